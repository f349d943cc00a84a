/**
 * A file or an in-memory buffer read by byte ranges, so that a reader can check a header against
 * the file's size before reading (or allocating for) anything else.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { loadNativeAddon } from '../backend/native/index.js';
import { DataFormatError } from '../core/errors.js';

/**
 * Ranges from this size on are read by the native addon (when it loads) on several threads: a
 * weight file is read into fresh memory, whose page faults one thread takes in turn (ResNet-50's
 * 98 MB: 29-149 ms on one thread, 15-32 on two, on a 2-core host under a hypervisor).
 */
const PARALLEL_READ_FROM = 2 ** 21;

/** Fills `out` from `offset`: the native reader for large ranges; the bytes read (fewer where the file ends). */
function readRange(fd: number, out: Uint8Array, offset: number): number {
  if (out.length >= PARALLEL_READ_FROM) {
    const addon = loadNativeAddon();
    if (!('error' in addon)) return addon.readInto(fd, offset, out);
  }
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** A file or a buffer, read by ranges. */
export interface ByteSource {
  name: string;
  size: number;
  /** Fills `into` (default: a fresh array) with `length` bytes from `offset`. */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array;
  close(): void;
}

/**
 * A buffer, or a file. `holdOpen: false` (for a reader whose reads come later, with no close of
 * their own) opens the file for each read instead of holding it open until close().
 */
export function openSource(source: string | Uint8Array, name?: string, opts: { holdOpen?: boolean } = {}): ByteSource {
  if (typeof source !== 'string') {
    const bytes = source;
    return {
      name: name ?? '<buffer>',
      size: bytes.length,
      read: (offset, length, into) => {
        const part = bytes.subarray(offset, offset + length);
        if (!into) return part;
        into.set(part);
        return into;
      },
      close: () => {},
    };
  }
  const open = (): number => {
    try {
      return openSync(source, 'r');
    } catch (e) {
      throw new DataFormatError(source, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  };
  let fd: number | null = open();
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    throw new DataFormatError(source, 'is not a regular file');
  }
  if (opts.holdOpen === false) {
    closeSync(fd);
    fd = null;
  }
  return {
    name: source,
    size: stat.size,
    read: (offset, length, into) => {
      const out = into ?? new Uint8Array(length);
      const reading = fd ?? open();
      let done: number;
      try {
        done = readRange(reading, out.subarray(0, length), offset);
      } catch (e) {
        throw new DataFormatError(source, `cannot be read at byte ${offset} (${e instanceof Error ? e.message : e})`);
      } finally {
        if (reading !== fd) closeSync(reading);
      }
      if (done < length) throw new DataFormatError(source, `at byte ${offset + done}: the file ended while being read`);
      return out;
    },
    close: () => {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

/**
 * Files up to this size are read whole by `readWhole`'s callers (larger ones by ranges): 2 GiB,
 * about four VGG19 checkpoints.
 */
export const WHOLE_FILE_LIMIT = 2 ** 31;

/**
 * A whole file in memory, for a reader that takes every record at once: one read, on several
 * threads where the addon loads, into huge pages where it can map them (a plain array otherwise).
 * Null when the file is larger than WHOLE_FILE_LIMIT.
 */
export function readWhole(path: string): Uint8Array | null {
  const src = openSource(path, undefined, { holdOpen: true });
  try {
    if (src.size > WHOLE_FILE_LIMIT) return null;
    return src.read(0, src.size, memoryFor(src.size));
  } finally {
    src.close();
  }
}

/** `bytes` of zeroed memory: the addon's huge pages from 2 MiB on, where it loads and can map them. */
function memoryFor(bytes: number): Uint8Array {
  const addon = bytes >= PARALLEL_READ_FROM ? loadNativeAddon() : null;
  if (addon !== null && !('error' in addon)) {
    try {
      const memory = addon.hugeBuffer(bytes);
      if (memory !== null) return new Uint8Array(memory, 0, bytes);
    } catch {
      // No mapping (memory exhausted): a plain array, which fails with its own error if it must.
    }
  }
  return new Uint8Array(bytes);
}
