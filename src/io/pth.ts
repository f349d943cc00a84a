/**
 * PyTorch checkpoints (`.pth`/`.pt`): reading the state dict in one, wherever a training script
 * nested it (writing one: pth-write.ts). Both formats torch.save writes are read:
 *
 * - the zip format (since PyTorch 1.6): `<archive>/data.pkl`, a pickle of the saved object in
 *   which each storage is a persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`,
 *   one record `<archive>/data/<key>` per storage, `<archive>/version` and (PyTorch 2)
 *   `<archive>/byteorder`;
 * - the legacy format (pth-legacy.ts): pickles and raw storages back to back.
 *
 * The pickles are read by src/io/pickle.ts with a fixed table of globals (pth-pickle.ts): any
 * other name (os.system, builtins.eval, a model class) is refused with its name, and nothing is
 * ever called. docs/formats.md has the rules and the errors.
 */
import { type DType, type FloatArray, isDType } from '../core/dtype.js';
import { ArgumentError, DataFormatError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Backend } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { wrap } from '../ops/util.js';
import { type ByteSource, openSource, readWhole } from './byte-source.js';
import { LITTLE_ENDIAN } from './elements.js';
import { unpickle } from './pickle.js';
import { isLegacyPth, looksLikePickle, readLegacyPth } from './pth-legacy.js';
import { type PthDType, pthHooks, type TensorRef } from './pth-pickle.js';
import { describeRoot, findStateDict, isContiguous, stateDictMetadata, tensorValues } from './pth-state-dict.js';
import { isZip, openZip } from './zip.js';

export { ALLOWED_GLOBALS, PTH_STORAGES, type PthDType } from './pth-pickle.js';
export { findStateDict, STATE_DICT_KEYS } from './pth-state-dict.js';

/** One tensor of the state dict found in a checkpoint. */
export interface PthEntry {
  name: string;
  dtype: PthDType;
  shape: number[];
}

export interface PthCheckpoint {
  file: string;
  /** The state dict's tensors, in the pickle's order. */
  entries: PthEntry[];
  /** Where the state dict was: [] at the top, ['model'] for {'model': sd, ...}. */
  statePath: string[];
  /** Numbers, strings and booleans beside the state dict and at the top (epoch: '3'). */
  metadata: Record<string, string>;
  /** The storages' byte order (legacy files are always little-endian). */
  byteorder: 'little' | 'big';
  /** 'zip' (torch.save since 1.6) or 'legacy' (_use_new_zipfile_serialization=False). */
  layout: 'zip' | 'legacy';
  /** One tensor, converted to `dtype` on `backend`. */
  read(name: string, dtype?: DType, backend?: string): Tensor;
  /** Closes the file held open by `openPth(path, { holdOpen: true })` (a no-op otherwise). */
  close(): void;
}

/** A saved object whose storages are found by key: what both formats come down to. */
interface Unpickled {
  root: unknown;
  layout: 'zip' | 'legacy';
  byteorder: 'little' | 'big';
  /** A storage's bytes, and how errors name where they are. */
  storage(key: string): { data: Uint8Array; where: string };
  /** A storage of exactly `into.length` bytes read straight into `into`; false where it cannot be. */
  storageInto(key: string, into: Uint8Array): boolean;
  /** The bytes of every storage in the file (the state dict's and any other object's). */
  storageBytes: number;
}

function openZipPth(source: Uint8Array | ByteSource, file: string): Unpickled {
  const zip = openZip(source, file);
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkl === undefined) {
    throw new DataFormatError(
      file,
      `is a zip archive without an <archive>/data.pkl record, so not a PyTorch checkpoint (it holds ${[...zip.entries.keys()].slice(0, 5).join(', ') || 'nothing'})`,
    );
  }
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  let byteorder: 'little' | 'big' = 'little';
  if (zip.entries.has(`${prefix}byteorder`)) {
    const text = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (text !== 'little' && text !== 'big')
      throw new DataFormatError(
        file,
        `${prefix}byteorder says ${JSON.stringify(text.slice(0, 20))}, not little or big`,
      );
    byteorder = text;
  }
  const fail = (at: number, detail: string): DataFormatError =>
    new DataFormatError(file, `at byte ${at} of ${prefix}data.pkl: ${detail}`);
  const hooks = pthHooks({
    fail,
    legacy: false,
    checkStorage(key, type, numel, at) {
      const record = `${prefix}data/${key}`;
      const entry = zip.entries.get(record);
      if (!entry) throw fail(at, `storage ${key} has no record ${record} in the archive`);
      const bytes = BigInt(numel) * BigInt(type.size);
      if (BigInt(entry.size) !== bytes) {
        throw fail(
          at,
          `storage ${key} is ${numel} ${type.dtype} elements (${bytes} bytes), but its record ${record} holds ${entry.size} bytes`,
        );
      }
    },
  });
  const root = unpickle(zip.read(pkl), file, pkl, hooks);
  const records = new Map<string, Uint8Array>();
  const storage = (key: string): { data: Uint8Array; where: string } => {
    const where = `${prefix}data/${key}`;
    let data = records.get(key);
    if (!data) {
      data = zip.read(where);
      records.set(key, data);
    }
    return { data, where };
  };
  const storageInto = (key: string, into: Uint8Array): boolean => zip.readInto(`${prefix}data/${key}`, into);
  let storageBytes = 0;
  for (const [name, e] of zip.entries) if (name.startsWith(`${prefix}data/`)) storageBytes += e.size;
  return { root, layout: 'zip', byteorder, storage, storageInto, storageBytes };
}

function openLegacyPth(bytes: Uint8Array, file: string): Unpickled {
  const { root, storages } = readLegacyPth(bytes, file);
  const storage = (key: string): { data: Uint8Array; where: string } => {
    const data = storages.get(key) as Uint8Array;
    return { data, where: `storage ${key} (at file byte ${data.byteOffset - bytes.byteOffset})` };
  };
  const storageBytes = [...storages.values()].reduce((n, data) => n + data.length, 0);
  return { root, layout: 'legacy', byteorder: 'little', storage, storageInto: () => false, storageBytes };
}

export interface OpenPthOptions {
  /** How errors name a buffer (default '<buffer>'). */
  name?: string;
  /**
   * Keep the file open until close() (default false: each read opens it again), for a caller that
   * reads every tensor at once: DenseNet-121's 727 tensors cost 727 opens and closes otherwise.
   */
  holdOpen?: boolean;
  /**
   * Read a file whole, for a caller that reads every tensor once and keeps them (loadWeights,
   * readPth): its float32 and float64 tensors then share the file's bytes instead of copies,
   * where those tensors are most of its storages (WHOLE_FILE_SHARE), so that what the tensors keep
   * alive is little more than themselves. One read instead of a read per record, and no fresh
   * memory per tensor: DenseNet-121's load took 82 against 102 ms (medians) on the Zen 5 host.
   */
  whole?: boolean;
}

/**
 * The share of a whole file's storage bytes its viewable tensors must make up for tensors to share
 * the file's bytes: a training checkpoint whose optimizer state is most of the file gets copies.
 */
export const WHOLE_FILE_SHARE = 0.9;

/**
 * Opens a PyTorch checkpoint (a path, or bytes), zip or legacy: the file and its pickle are checked
 * and the state dict is found; tensors are read by `read`.
 */
export function openPth(source: string | Uint8Array, opts: OpenPthOptions = {}): PthCheckpoint {
  const file = typeof source === 'string' ? source : (opts.name ?? '<buffer>');
  // A file is read whole (`whole`), or by ranges (a zip's storages straight into their tensors; a legacy one whole).
  const holdOpen = opts.holdOpen ?? false;
  const whole = typeof source === 'string' && opts.whole === true ? readWhole(source) : null;
  const input = whole ?? (typeof source === 'string' ? openSource(source, undefined, { holdOpen }) : source);
  try {
    return checkpointOf(input, file, whole !== null);
  } catch (e) {
    if (!(input instanceof Uint8Array)) input.close();
    throw e;
  }
}

/** `bytesOwned`: `input` is memory this module made (openPth's `whole`), which tensors may share. */
function checkpointOf(input: Uint8Array | ByteSource, file: string, bytesOwned: boolean): PthCheckpoint {
  const head = input instanceof Uint8Array ? input.subarray(0, 32) : input.read(0, Math.min(input.size, 32));
  let opened: Unpickled;
  if (isZip(head)) opened = openZipPth(input, file);
  else if (isLegacyPth(head) || looksLikePickle(head))
    opened = openLegacyPth(input instanceof Uint8Array ? input : input.read(0, input.size), file);
  else
    throw new DataFormatError(
      file,
      'is not a PyTorch checkpoint: it starts neither as a zip archive (PK\\3\\4) nor as a pickle (80 02)',
    );
  const { root } = opened;
  const found = findStateDict(root);
  if (!found) {
    throw new DataFormatError(
      file,
      `holds no state dict (a dict from names to tensors): the pickle holds ${describeRoot(root)}`,
    );
  }
  const entries: PthEntry[] = [...found.dict].map(([k, t]) => ({ name: k, dtype: t.dtype, shape: [...t.shape] }));
  const little = opened.byteorder === 'little';
  const inOrder = (ref: TensorRef): boolean =>
    little &&
    LITTLE_ENDIAN &&
    ref.offset === 0 &&
    isContiguous(ref) &&
    (ref.dtype === 'float32' || ref.dtype === 'float64');
  const share = bytesOwned && viewableBytes(found.dict.values(), inOrder) >= WHOLE_FILE_SHARE * opened.storageBytes;
  const viewed = new Set<string>();
  /**
   * A whole storage of the dtype wanted, in order: the file's bytes themselves where it may share
   * them (a storage two tensors hold is shared by the first only), else read from the file into
   * the result (no copy in between).
   */
  const direct = (ref: TensorRef, dtype: DType, target: Backend): FloatArray | undefined => {
    if (!inOrder(ref) || ref.dtype !== dtype) return undefined;
    if (share && !viewed.has(ref.storage.key)) {
      const { data } = opened.storage(ref.storage.key); // checked against its CRC
      const View = dtype === 'float32' ? Float32Array : Float64Array;
      if (data.byteOffset % View.BYTES_PER_ELEMENT === 0) {
        viewed.add(ref.storage.key);
        return new View(data.buffer as ArrayBuffer, data.byteOffset, ref.numel);
      }
    }
    const out = target.allocate(dtype, ref.numel);
    return opened.storageInto(ref.storage.key, new Uint8Array(out.buffer, out.byteOffset, out.byteLength))
      ? out
      : undefined;
  };
  const read = (tensorName: string, dtype: DType = 'float32', backend?: string): Tensor => {
    const ref: TensorRef | undefined = found.dict.get(tensorName);
    if (!ref) throw new ArgumentError(file, `no tensor named ${JSON.stringify(tensorName)}`);
    if (!isDType(dtype)) throw new ArgumentError(file, `dtype must be 'float32' or 'float64', got ${String(dtype)}`);
    const target = getBackend(backend);
    let values = direct(ref, dtype, target);
    if (!values) {
      const { data, where } = opened.storage(ref.storage.key);
      values = tensorValues(file, where, ref, data, dtype, little);
    }
    // The values are a fresh array: the backend takes it as it is (no second copy).
    return wrap(target.adopt(values), [...ref.shape], target);
  };
  return {
    file,
    entries,
    statePath: found.path,
    metadata: stateDictMetadata(root, found.path),
    byteorder: opened.byteorder,
    layout: opened.layout,
    read,
    close: () => {
      if (!(input instanceof Uint8Array)) input.close();
    },
  };
}

/** The bytes of the storages that tensors `inOrder` hold whole from their start, each storage once. */
function viewableBytes(refs: Iterable<TensorRef>, inOrder: (ref: TensorRef) => boolean): number {
  const bytes = new Map<string, number>();
  for (const ref of refs) {
    if (!inOrder(ref)) continue;
    const size = ref.numel * ref.storage.elementSize;
    bytes.set(ref.storage.key, Math.max(bytes.get(ref.storage.key) ?? 0, size));
  }
  return [...bytes.values()].reduce((a, b) => a + b, 0);
}

export interface ReadPthOptions {
  dtype?: DType | ((name: string, stored: PthDType) => DType);
  backend?: string | ((name: string) => string | undefined);
  name?: string;
}

export interface PthContents {
  tensors: Map<string, Tensor>;
  dtypes: Map<string, PthDType>;
  metadata: Record<string, string>;
  statePath: string[];
}

/** Reads the state dict of a checkpoint: every tensor as float32 (or float64 per `dtype`). */
export function readPth(source: string | Uint8Array, opts: ReadPthOptions = {}): PthContents {
  const ckpt = openPth(source, { name: opts.name, holdOpen: true, whole: true });
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, PthDType>();
  try {
    for (const e of ckpt.entries) {
      const dtype = typeof opts.dtype === 'function' ? opts.dtype(e.name, e.dtype) : (opts.dtype ?? 'float32');
      const backend = typeof opts.backend === 'function' ? opts.backend(e.name) : opts.backend;
      tensors.set(e.name, ckpt.read(e.name, dtype, backend));
      dtypes.set(e.name, e.dtype);
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    ckpt.close();
  }
  return { tensors, dtypes, metadata: ckpt.metadata, statePath: ckpt.statePath };
}
