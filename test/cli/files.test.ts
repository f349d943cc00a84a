import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { checkOutputPath, OutputError, writeFileAtomic } from '../../src/cli/files.js';

/** Every file and folder under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('output files', () => {
  it('checkOutputPath: a folder as the target, a file as a folder, or no way up are usage errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'convkit-files-'));
    writeFileSync(join(dir, 'file'), 'x');
    mkdirSync(join(dir, 'sub'));
    assert.throws(
      () => checkOutputPath(join(dir, 'sub'), '--chart'),
      (e: unknown) =>
        e instanceof UsageError && e.message === `--chart: ${join(dir, 'sub')} is a folder; expected a file name`,
    );
    assert.throws(
      () => checkOutputPath(join(dir, 'file', 'deeper', 'x.svg'), '--chart'),
      (e: unknown) => e instanceof UsageError && e.message.startsWith(`--chart: ${join(dir, 'file')} is not a folder`),
    );
    // Missing folders are fine (made when the file is written), and the check leaves nothing behind.
    assert.equal(checkOutputPath(join(dir, 'new', 'deeper', 'x.svg'), '--chart'), join(dir, 'new', 'deeper', 'x.svg'));
    assert.equal(checkOutputPath(join(dir, 'file'), '--chart'), join(dir, 'file'));
    assert.deepEqual(tree(dir), ['file', 'sub']);
  });

  it('writeFileAtomic: makes missing folders, replaces whole, and leaves no temporary file when it fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'convkit-files-'));
    const path = join(dir, 'a', 'b.json');
    writeFileAtomic(path, 'one');
    writeFileAtomic(path, 'two');
    assert.equal(readFileSync(path, 'utf8'), 'two');
    mkdirSync(join(dir, 'taken'));
    assert.throws(
      () => writeFileAtomic(join(dir, 'taken'), 'x'),
      (e: unknown) => e instanceof OutputError && /^.*taken: cannot write: /.test(e.message),
    );
    writeFileSync(join(dir, 'file'), 'x');
    assert.throws(() => writeFileAtomic(join(dir, 'file', 'x.svg'), 'x'), OutputError);
    assert.deepEqual(tree(dir), ['a', join('a', 'b.json'), 'file', 'taken']);
  });
});
