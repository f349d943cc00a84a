/**
 * Reading files by ranges (src/io/byte-source.ts): large ranges go to the native addon's reader,
 * which splits them over threads (native/src/read_file.cc). Checked against readFileSync for odd
 * lengths and offsets, across stretch boundaries, at the file's end and past it (the error names
 * the byte where the file ended), and the reader on its own with a bad descriptor.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadNativeAddon } from '../../src/backend/native/index.js';
import { DataFormatError } from '../../src/core/errors.js';
import { openSource } from '../../src/io/byte-source.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-byte-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file of `length` bytes whose every byte depends on its position (so a misplaced stretch shows). */
function patterned(name: string, length: number): { path: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 2654435761) >>> 24;
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

const MiB = 2 ** 20;

describe('openSource on a file', () => {
  const { path, bytes } = patterned('large.bin', 9 * MiB + 12345);
  const whole = readFileSync(path);

  it('large and small ranges read the same bytes as readFileSync', () => {
    const source = openSource(path);
    try {
      for (const [offset, length] of [
        [0, bytes.length],
        [1, 2 * MiB],
        [MiB - 3, 3 * MiB + 7],
        [12345, 5 * MiB + 1],
        [bytes.length - 2 * MiB - 5, 2 * MiB + 5],
        [100, 1000],
      ]) {
        const got = source.read(offset, length);
        assert.equal(got.length, length);
        assert.ok(
          Buffer.from(got).equals(whole.subarray(offset, offset + length)),
          `bytes ${offset} to ${offset + length}`,
        );
      }
      const into = new Uint8Array(4 * MiB + 10).fill(7);
      source.read(77, 4 * MiB, into);
      assert.ok(Buffer.from(into.subarray(0, 4 * MiB)).equals(whole.subarray(77, 77 + 4 * MiB)));
      assert.deepEqual([...into.subarray(4 * MiB)], new Array(10).fill(7), 'bytes past the range are left alone');
    } finally {
      source.close();
    }
  });

  it('a range past the end names the byte where the file ended', () => {
    for (const holdOpen of [true, false]) {
      const source = openSource(path, undefined, { holdOpen });
      try {
        assert.throws(
          () => source.read(bytes.length - MiB, 3 * MiB),
          (e: unknown) =>
            e instanceof DataFormatError &&
            e.message.includes(path) &&
            e.message.includes(`at byte ${bytes.length}: the file ended while being read`),
        );
      } finally {
        source.close();
      }
    }
  });
});

describe('the native reader', () => {
  const skip = nativeSkipReason('byte-source (native reader)');
  it('reads what is there, says how much, and rejects a bad descriptor', { skip }, () => {
    const addon = loadNativeAddon();
    if ('error' in addon) throw new Error(addon.error);
    const { path, bytes } = patterned('short.bin', 3 * MiB + 1);
    const fd = openSync(path, 'r');
    try {
      const into = new Uint8Array(6 * MiB);
      assert.equal(addon.readInto(fd, MiB, into), 2 * MiB + 1, 'a read past the end counts what was there');
      assert.ok(Buffer.from(into.subarray(0, 2 * MiB + 1)).equals(Buffer.from(bytes.subarray(MiB))));
      assert.equal(addon.readInto(fd, bytes.length + 5, into), 0);
    } finally {
      closeSync(fd);
    }
    assert.throws(() => addon.readInto(fd, 0, new Uint8Array(4 * MiB)), /readInto: Bad file descriptor at byte 0/);
    assert.throws(
      () => addon.readInto(-1, 0, new Uint8Array(8)),
      /readInto: argument 'fd' must be a non-negative integer/,
    );
  });
});
