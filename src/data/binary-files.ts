/**
 * Reading dataset files safely: whole-file reads that name the file when it is missing, gzip
 * detected by its magic bytes (1f 8b) and inflated with a bound on the output, and errors that
 * name the file and the byte offset. Shared by the IDX and CIFAR readers.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { DataFormatError } from '../core/errors.js';

/** Deflate's best ratio is 1032:1; nothing honest inflates to more than this per input byte. */
export const MAX_DEFLATE_RATIO = 1032;

/** `file: at byte 12: ...` (the decompressed stream's byte when the file is gzipped). */
export function formatError(file: string, offset: number, detail: string, gzipped = false): DataFormatError {
  return new DataFormatError(file, `at ${gzipped ? 'decompressed byte' : 'byte'} ${offset}: ${detail}`);
}

/** The whole file, or a DataFormatError naming it when it is missing or not a file. */
export function readWholeFile(file: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new DataFormatError(file, 'is not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    throw new DataFormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const bytes = readFileSync(file);
  if (bytes.length !== size) throw new DataFormatError(file, `changed size while being read`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function zlibReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.message} (${err.code})` : String(e);
}

/**
 * Inflates at most `maxOutput` bytes of a gzip stream. `partial` accepts a stream that stops early
 * (for peeking at a header, or finding where a truncated stream ends). Throws DataFormatError
 * naming the file on corrupt data, and RangeError (ERR_BUFFER_TOO_LARGE) past maxOutput.
 */
export function inflateBounded(file: string, gz: Uint8Array, maxOutput: number, partial = false): Uint8Array {
  try {
    const out = gunzipSync(gz, {
      maxOutputLength: Math.max(1, maxOutput),
      ...(partial ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}),
    });
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
    throw new DataFormatError(file, `corrupt gzip data in a ${gz.length}-byte file: ${zlibReason(e)}`);
  }
}

/**
 * The decompressed bytes of a gzip file whose layout says, from its first bytes, how long it is.
 * `expectedLength(prefix)` returns the total length once the prefix holds enough of the header,
 * or undefined to ask for more (it throws its own errors for a bad header). The output is never
 * allowed past that length plus one byte (to notice trailing data), and a length the compressed
 * size cannot hold is refused before anything large is allocated.
 */
export function gunzipSized(
  file: string,
  gz: Uint8Array,
  expectedLength: (prefix: Uint8Array, complete: boolean) => number | undefined,
): Uint8Array {
  const ceiling = gz.length * MAX_DEFLATE_RATIO + 1024;
  let expected: number | undefined;
  for (let take = 64; expected === undefined; take *= 4) {
    const complete = take >= gz.length;
    const chunk = gz.subarray(0, Math.min(take, gz.length));
    let prefix: Uint8Array;
    try {
      prefix = inflateBounded(file, chunk, chunk.length * MAX_DEFLATE_RATIO + 1024, true);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw e;
      throw new DataFormatError(file, `corrupt gzip data: inflates beyond deflate's largest ratio`);
    }
    expected = expectedLength(prefix, complete);
    if (expected === undefined && complete) {
      throw new DataFormatError(file, `the gzip stream ends before the header is complete`);
    }
  }
  if (expected > ceiling) {
    throw formatError(
      file,
      0,
      `the header announces ${expected >= Number.MAX_SAFE_INTEGER ? 'over 2^53' : expected} bytes, more than a ${gz.length}-byte gzip file can hold (truncated file?)`,
      true,
    );
  }
  try {
    return inflateBounded(file, gz, expected);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw formatError(file, expected, `data continues after the ${expected} bytes the header announces`, true);
    }
    // A stream cut short: find where its data ends, so the error says how much is there.
    let got: Uint8Array | undefined;
    try {
      got = inflateBounded(file, gz, expected, true);
    } catch {
      throw e;
    }
    if (got.length < expected) {
      throw formatError(
        file,
        got.length,
        `the gzip stream ends after ${got.length} of the ${expected} bytes the header announces (truncated file)`,
        true,
      );
    }
    throw e;
  }
}

/** The first of `names` that exists in `dir`, or a DataFormatError saying what was looked for and where. */
export function findFile(dir: string, what: string, names: readonly string[]): string {
  if (!existsSync(dir)) throw new DataFormatError(dir, `folder does not exist (looking for ${what})`);
  for (const name of names) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new DataFormatError(dir, `no ${what}: looked for ${names.join(', ')} in ${dir}`);
}
