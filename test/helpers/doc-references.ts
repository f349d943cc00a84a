/**
 * Finds references to documents that do not exist: a comment that names a missing `.md` file, a
 * markdown link to a missing file, or an `#anchor` that names no heading of its target. Pure
 * functions over texts, so the scanner itself can be tested on made-up files.
 *
 * What counts as a reference:
 * - in any file, a path ending in `.md` (`docs/analysis.md`, `test/golden/README.md`, optionally
 *   with `#anchor`): it must exist relative to the file's folder or to the repository root;
 * - in markdown files, every relative link target (`[text](path#anchor)`, `[text](#anchor)`,
 *   `[id]: path`), outside fenced code and inline code: it must exist relative to the file's
 *   folder, as GitHub resolves it;
 * - anchors into a markdown file must equal the GitHub slug of one of its headings.
 * Some names are forbidden outright (documents that live outside the repository).
 */
import { posix } from 'node:path';

export interface SourceFile {
  /** Path from the repository root, with '/' separators. */
  path: string;
  text: string;
}

export interface Problem {
  file: string;
  line: number;
  /** The reference as written. */
  target: string;
  why: string;
}

/**
 * GitHub's heading anchor: the text lowercased, every character that is not a letter, a digit,
 * a space, '-' or '_' dropped, each space turned into '-'. Markdown around the text (inline code,
 * emphasis, link targets) is removed first, as GitHub slugs the rendered text.
 */
export function githubSlug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim();
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a markdown text defines: its ATX headings' slugs (repeats get -1, -2...) and explicit ids. */
export function markdownAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const f = /^\s*(```|~~~)/.exec(line);
    if (f) {
      if (fence === null) fence = f[1];
      else if (f[1] === fence) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = githubSlug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
  }
  return anchors;
}

/** A `.md` path as written in prose or code comments, with an optional anchor. */
const MENTION = /(?<![\w./-])((?:\.{1,2}\/)*(?:[\w-][\w.-]*\/)*[\w-][\w.-]*\.md)(?:#([\w-]+))?(?![\w])/g;
/** Inline markdown links and images: [text](target "title"). */
const LINK = /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g;
/** Reference-style link definitions: [id]: target */
const DEFINITION = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/;

/** Names of documents that are not part of the repository; built here so this file does not mention them. */
export const FORBIDDEN: readonly { pattern: RegExp; name: string }[] = [
  { name: `${'design'.toUpperCase()}.md`, pattern: new RegExp(`\\b${'design'.toUpperCase()}\\.md\\b`, 'i') },
  { name: ['..', 'shared'].join('/'), pattern: new RegExp(`\\.\\./${'shared'}\\b`) },
];

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

/**
 * Every broken reference in `files`. `exists(path)` says whether a repository path (file or
 * folder, '/'-separated, from the root) exists; `read(path)` returns a markdown file's text for
 * its anchors (undefined when it cannot be read).
 */
export function findBrokenReferences(
  files: readonly SourceFile[],
  exists: (path: string) => boolean,
  read: (path: string) => string | undefined,
): Problem[] {
  const problems = new Map<string, Problem>();
  const anchorCache = new Map<string, Set<string> | undefined>();
  const anchorsOf = (path: string): Set<string> | undefined => {
    if (!anchorCache.has(path)) {
      const text = read(path);
      anchorCache.set(path, text === undefined ? undefined : markdownAnchors(text));
    }
    return anchorCache.get(path);
  };
  const report = (p: Problem): void => {
    const key = `${p.file}:${p.line}:${p.target}`;
    if (!problems.has(key)) problems.set(key, p);
  };
  const checkAnchor = (file: string, line: number, target: string, doc: string, anchor: string | undefined): void => {
    if (anchor === undefined || anchor === '' || !doc.endsWith('.md')) return;
    const anchors = anchorsOf(doc);
    if (anchors !== undefined && !anchors.has(anchor))
      report({ file, line, target, why: `${doc} has no heading with the anchor #${anchor}` });
  };

  for (const { path: file, text } of files) {
    const dir = posix.dirname(file);
    const markdown = file.endsWith('.md');
    let fence: string | null = null;
    text.split('\n').forEach((raw, i) => {
      const line = i + 1;
      for (const { pattern, name } of FORBIDDEN)
        if (pattern.test(raw))
          report({ file, line, target: name, why: `${name} is not part of the repository; point to docs/ instead` });

      for (const m of raw.matchAll(MENTION)) {
        const [target, path, anchor] = m;
        const candidates = [posix.normalize(posix.join(dir, path)), posix.normalize(path)];
        const doc = candidates.find((c) => !c.startsWith('..') && exists(c));
        if (doc === undefined) report({ file, line, target, why: `no file ${candidates[1]} in the repository` });
        else checkAnchor(file, line, target, doc, anchor);
      }

      if (!markdown) return;
      const f = /^\s*(```|~~~)/.exec(raw);
      if (f) {
        if (fence === null) fence = f[1];
        else if (f[1] === fence) fence = null;
        return;
      }
      if (fence !== null) return;
      const prose = raw.replace(/`[^`]*`/g, '');
      const targets = [...prose.matchAll(LINK)].map((m) => m[1]);
      const definition = DEFINITION.exec(prose);
      if (definition) targets.push(definition[1]);
      for (const target of targets) {
        if (target === '' || isExternal(target)) continue;
        const hash = target.indexOf('#');
        const path = decodeURI(hash < 0 ? target : target.slice(0, hash));
        const anchor = hash < 0 ? undefined : target.slice(hash + 1);
        const doc = path === '' ? file : posix.normalize(posix.join(dir, path)).replace(/\/$/, '');
        if (doc.startsWith('..') || !exists(doc)) {
          report({ file, line, target, why: `links to ${doc}, which is not in the repository` });
          continue;
        }
        checkAnchor(file, line, target, doc, anchor);
      }
    });
  }
  return [...problems.values()];
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.target}: ${p.why}`).join('\n');
}
