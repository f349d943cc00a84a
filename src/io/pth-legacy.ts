/**
 * The legacy PyTorch checkpoint format (torch < 1.6, or `torch.save(obj, f,
 * _use_new_zipfile_serialization=False)` since): five pickles and the raw storages, back to back.
 *
 *   1. the magic number 0x1950a86a20f9469cfc6c      2. the protocol version 1001
 *   3. sys info (a dict: byte order, type sizes)    4. the saved object, whose storages are
 *      persistent ids ('storage', type, key, location, numel, None)
 *   5. the list of storage keys, in the order their data follows
 *   then per key: its element count as a little-endian int64, and numel x element size bytes,
 *   little-endian whatever the machine (PyTorch's writer and reader both swap on big-endian hosts).
 *
 * The pickles are read with the same restricted unpickler and allowed globals as the zip format
 * (pth-pickle.ts). A storage's bytes are checked against the file (count, length, every storage
 * named in the pickle present exactly once, nothing after the last) before any tensor is read.
 */
import { DataFormatError } from '../core/errors.js';
import { kind, unpickleAt } from './pickle.js';
import { pthHooks, type StorageRef } from './pth-pickle.js';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
export const LEGACY_PROTOCOL = 1001;

/** The magic number as pickle protocol 2 writes it: LONG1 of 10 bytes, little-endian. */
const MAGIC_LONG1 = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/**
 * True when `head` (the first 32 bytes or more) starts as a legacy checkpoint: a pickle (PROTO 2
 * to 5, with a FRAME from protocol 4) of PyTorch's magic number.
 */
export function isLegacyPth(head: Uint8Array): boolean {
  if (head.length < 2 || head[0] !== 0x80 || head[1] < 2 || head[1] > 5) return false;
  const at = head[2] === 0x95 ? 11 : 2;
  return MAGIC_LONG1.every((b, i) => head[at + i] === b);
}

/** A bare pickle at the start, as a legacy checkpoint is (for the message when the magic is wrong). */
export function looksLikePickle(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

export interface LegacyPth {
  /** The saved object. */
  root: unknown;
  /** Each storage's bytes (a view of the file), by key. */
  storages: Map<string, Uint8Array>;
}

/** Reads the pickles of a legacy checkpoint and locates its storages; no tensor is read yet. */
export function readLegacyPth(bytes: Uint8Array, file: string): LegacyPth {
  const fail = (at: number, detail: string): DataFormatError => new DataFormatError(file, `at byte ${at}: ${detail}`);
  // The first three pickles and the key list hold no globals or storages: anything else is refused.
  const plain = pthHooks({
    fail,
    legacy: true,
    checkStorage: (_key, _type, _numel, at) => {
      throw fail(at, 'a storage outside the saved object (corrupt legacy checkpoint)');
    },
  });
  let pos = 0;
  const next = (hooks = plain): unknown => {
    const { value, end } = unpickleAt(bytes, pos, file, '', hooks);
    pos = end;
    return value;
  };
  const magic = next();
  if (magic !== LEGACY_MAGIC) {
    throw fail(0, `the first pickle is ${kind(magic)}, not PyTorch's magic number (not a PyTorch checkpoint)`);
  }
  const versionAt = pos;
  const version = next();
  if (version !== LEGACY_PROTOCOL) {
    throw fail(versionAt, `protocol version ${kind(version)}; legacy PyTorch checkpoints have ${LEGACY_PROTOCOL}`);
  }
  const infoAt = pos;
  const info = next();
  if (!(info instanceof Map)) throw fail(infoAt, `the sys info pickle is ${kind(info)}, not a dict`);

  const hooks = pthHooks({ fail, legacy: true, checkStorage: () => {} });
  const root = next(hooks);
  const keysAt = pos;
  const keys = next();
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) {
    throw fail(keysAt, `the storage key list is ${kind(keys)}, not a list of strings`);
  }
  return { root, storages: locateStorages(bytes, pos, keys as string[], hooks.storages, fail) };
}

/** Walks the storages after the key list, checking each against what the pickle said and the file's size. */
function locateStorages(
  bytes: Uint8Array,
  start: number,
  keys: readonly string[],
  named: ReadonlyMap<string, StorageRef>,
  fail: (at: number, detail: string) => DataFormatError,
): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, Uint8Array>();
  let pos = start;
  for (const key of keys) {
    const ref = named.get(key);
    if (!ref) throw fail(pos, `the key list names storage ${key}, which the saved object does not use`);
    if (storages.has(key)) throw fail(pos, `the key list names storage ${key} twice`);
    if (pos + 8 > bytes.length)
      throw fail(pos, `storage ${key}'s element count runs past the end of the file (truncated)`);
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(ref.numel)) {
      throw fail(pos, `storage ${key} holds ${count} elements here, but the pickle says ${ref.numel}`);
    }
    const length = ref.numel * ref.elementSize;
    pos += 8;
    if (length > bytes.length - pos) {
      throw fail(
        pos,
        `storage ${key}'s ${ref.numel} ${ref.dtype} elements (${length} bytes) run past the end of the ${bytes.length}-byte file (truncated)`,
      );
    }
    storages.set(key, bytes.subarray(pos, pos + length));
    pos += length;
  }
  for (const key of named.keys()) {
    if (!storages.has(key)) throw fail(pos, `storage ${key} is used by the saved object but has no data in the file`);
  }
  if (pos !== bytes.length) {
    throw fail(pos, `${bytes.length - pos} bytes follow the last storage (corrupt or not a legacy checkpoint)`);
  }
  return storages;
}
