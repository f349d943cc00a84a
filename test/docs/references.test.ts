/**
 * Every reference to a document inside the repository points at something that exists: paths to
 * `.md` files in sources, scripts, tests and docs, relative markdown links, and `#anchors` to
 * headings (GitHub's slugs). Documents that live outside the repository are never named.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  FORBIDDEN,
  findBrokenReferences,
  formatProblems,
  githubSlug,
  markdownAnchors,
  type SourceFile,
} from '../helpers/doc-references.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCANNED = ['src', 'native/src', 'test', 'scripts', 'README.md', 'docs'];
/** This file: its made-up repositories name missing documents on purpose (forbidden names are still checked). */
const SELF = 'test/docs/references.test.ts';

/** Tracked files and new ones not yet added (ignored files excluded), '/'-separated from the root. */
function repositoryFiles(...paths: string[]): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '--', ...paths], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return [...new Set(out.split('\0').filter((p) => p !== ''))];
}

/** exists() over a list of files: the files and every folder above them. */
function existsIn(files: readonly string[]): (path: string) => boolean {
  const known = new Set<string>();
  for (const f of files) {
    known.add(f);
    for (let d = dirname(f); d !== '.' && !known.has(d); d = dirname(d)) known.add(d);
  }
  return (path) => known.has(path);
}

/** A made-up repository for testing the scanner itself. */
function fakeRepo(texts: Record<string, string>): ReturnType<typeof findBrokenReferences> {
  const files: SourceFile[] = Object.entries(texts).map(([path, text]) => ({ path, text }));
  return findBrokenReferences(files, existsIn(Object.keys(texts)), (path) => texts[path]);
}

describe('references to documents', () => {
  it('every document named in src, native/src, test, scripts, README.md and docs exists, with its anchors', () => {
    const all = repositoryFiles();
    const scanned = repositoryFiles(...SCANNED).filter((p) => !/\.(png|jpg|node)$/.test(p));
    const files = scanned.map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
    const problems = findBrokenReferences(files, existsIn(all), (path) => {
      try {
        return readFileSync(join(ROOT, path), 'utf8');
      } catch {
        return undefined;
      }
    }).filter((p) => p.file !== SELF || FORBIDDEN.some((f) => f.name === p.target));
    assert.ok(files.length > 100, `only ${files.length} files scanned`);
    assert.equal(problems.length, 0, `broken references to documents:\n${formatProblems(problems)}`);
  });

  it('slugs headings as GitHub does', () => {
    assert.equal(githubSlug('Published reference numbers'), 'published-reference-numbers');
    assert.equal(githubSlug('JSON schema `convkit.summary/1`'), 'json-schema-convkitsummary1');
    assert.equal(githubSlug('Side by side: `npm run bench`'), 'side-by-side-npm-run-bench');
    assert.equal(githubSlug('oneDNN 2.6 notes, found on the way!'), 'onednn-26-notes-found-on-the-way');
    assert.equal(githubSlug('snake_case and kebab-case'), 'snake_case-and-kebab-case');
    assert.equal(githubSlug('Links [in](x.md) headings'), 'links-in-headings');
    assert.equal(githubSlug('Two  spaces'), 'two--spaces');
    const anchors = markdownAnchors('# Title\n## Notes\n```\n## not a heading\n```\n## Notes\n<a id="kept"></a>\n');
    assert.deepEqual([...anchors].sort(), ['kept', 'notes', 'notes-1', 'title']);
  });

  it('fails with the file, the line and the missing target', () => {
    const problems = fakeRepo({
      'src/a.ts': '// fine: docs/guide.md#setting-up\n// see docs/missing.md\n// and docs/guide.md#no-such-heading\n',
      'docs/guide.md':
        '# Guide\n## Setting up\n[ok](../src/a.ts) [gone](other.md) [self](#guide)\n[bad anchor](#nowhere)\n[x]: ./nope.md\n',
      'README.md': 'See [the guide](docs/guide.md#setting-up) and `docs/guide.md`; https://example.com/x.md\n',
    });
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line}: ${p.target}`),
      [
        'src/a.ts:2: docs/missing.md',
        'src/a.ts:3: docs/guide.md#no-such-heading',
        'docs/guide.md:3: other.md',
        'docs/guide.md:4: #nowhere',
        'docs/guide.md:5: ./nope.md',
      ],
    );
    assert.match(formatProblems(problems), /^src\/a\.ts:2: docs\/missing\.md: no file docs\/missing\.md/m);
    assert.match(formatProblems(problems), /docs\/guide\.md:4: #nowhere: docs\/guide\.md has no heading/);
  });

  it('ignores links inside code and external links; a .md path counts anywhere', () => {
    const problems = fakeRepo({
      'docs/a.md': '```\n[x](missing.svg)\n```\n`[y](gone.svg)` [web](https://example.com/z.md) [mail](mailto:a@b)\n',
    });
    assert.deepEqual(problems, []);
    const inCode = fakeRepo({ 'docs/a.md': '```\nsee missing.md\n```\n' });
    assert.deepEqual(
      inCode.map((p) => p.target),
      ['missing.md'],
    );
    const outside = fakeRepo({ 'docs/a.md': '[up](../../elsewhere.md)\n' });
    assert.equal(outside.length, 1);
  });

  it('fails on any mention of the documents that are not part of the repository', () => {
    for (const { name } of FORBIDDEN) {
      const problems = fakeRepo({ 'test/x.test.ts': `// the table in ${name}\n` });
      assert.equal(problems.length, 1, name);
      assert.equal(problems[0].line, 1);
      assert.match(problems[0].why, /not part of the repository/);
    }
  });
});
