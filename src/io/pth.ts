/**
 * PyTorch checkpoints (`.pth`/`.pt`, the zip format torch.save writes since 1.6): reading the state
 * dict in one, wherever a training script nested it, (writing one: pth-write.ts).
 *
 * The archive holds `<archive>/data.pkl` (a pickle of the saved object in which each storage is a
 * persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`), one record
 * `<archive>/data/<key>` per storage, `<archive>/version` and (PyTorch 2) `<archive>/byteorder`.
 * The pickle is read by src/io/pickle.ts with a fixed table of globals (ALLOWED_GLOBALS): any
 * other name (os.system, builtins.eval, a model class) is refused with its name, and nothing is
 * ever called. docs/formats.md has the rules and the errors.
 */
import { readFileSync, statSync } from 'node:fs';
import { allocFloat, type DType, type FloatArray, isDType } from '../core/dtype.js';
import { ArgumentError, DataFormatError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { getBackend } from '../backend/registry.js';
import { wrap } from '../ops/util.js';
import { isTuple, kind, unpickle } from './pickle.js';
import { bfloat16ToNumber, halfToNumber } from './safetensors.js';
import { isZip, openZip, type ZipArchive } from './zip.js';

export type PthDType =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** The storage classes PyTorch pickles, with the dtype and element size of each. */
export const PTH_STORAGES: Readonly<Record<string, { dtype: PthDType; size: number }>> = {
  DoubleStorage: { dtype: 'float64', size: 8 },
  FloatStorage: { dtype: 'float32', size: 4 },
  HalfStorage: { dtype: 'float16', size: 2 },
  BFloat16Storage: { dtype: 'bfloat16', size: 2 },
  LongStorage: { dtype: 'int64', size: 8 },
  IntStorage: { dtype: 'int32', size: 4 },
  ShortStorage: { dtype: 'int16', size: 2 },
  CharStorage: { dtype: 'int8', size: 1 },
  ByteStorage: { dtype: 'uint8', size: 1 },
  BoolStorage: { dtype: 'bool', size: 1 },
};

/** Every global a .pth may name; anything else is refused. */
export const ALLOWED_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  ...Object.keys(PTH_STORAGES).map((s) => `torch.${s}`),
];

/** A tensor view stays within this many elements past its storage (an expand of a small tensor). */
const MAX_OVERLAP_ELEMENTS = 65536;
const MAX_RANK = 64;

class Callable {
  constructor(readonly qualname: string) {}
  describe(): string {
    return `the global ${this.qualname}`;
  }
}

class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: PthDType,
    readonly size: number,
  ) {}
  describe(): string {
    return `the storage type torch.${this.name}`;
  }
}

/** A storage: a record of the archive, read only when a tensor needs it. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: PthDType,
    readonly elementSize: number,
    readonly numel: number,
    readonly location: string,
  ) {}
  describe(): string {
    return `storage ${this.key}`;
  }
}

/** A tensor as the pickle describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): PthDType {
    return this.storage.dtype;
  }
  describe(): string {
    return `a tensor of shape [${this.shape.join(', ')}]`;
  }
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/** The unpickler's hooks for a checkpoint in `zip` whose records live under `prefix`. */
function hooks(file: string, zip: ZipArchive, prefix: string) {
  const fail = (at: number, detail: string): DataFormatError =>
    new DataFormatError(file, `at byte ${at} of ${prefix}data.pkl: ${detail}`);
  const storages = new Map<string, StorageRef>();
  return {
    findGlobal(module: string, name: string, at: number): unknown {
      const qualname = `${module}.${name}`;
      if (module === 'torch' && Object.hasOwn(PTH_STORAGES, name)) {
        const s = PTH_STORAGES[name];
        return new StorageType(name, s.dtype, s.size);
      }
      if (ALLOWED_GLOBALS.includes(qualname)) return new Callable(qualname);
      const hint = module.startsWith('__torch__')
        ? ' (a TorchScript archive, from torch.jit.save: save model.state_dict() with torch.save instead)'
        : /^(torch\.nn|torchvision|timm)\b/.test(module) || /^[A-Z]/.test(name)
          ? ' (a whole pickled object: save model.state_dict() instead of the model)'
          : '';
      throw fail(
        at,
        `refuses the global ${qualname}${hint}: a state dict may name only collections.OrderedDict, ` +
          'torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter(_with_state) and the torch.*Storage ' +
          'types; nothing in the file was executed',
      );
    },
    persistentLoad(pid: unknown, at: number): unknown {
      if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') {
        throw fail(at, `a persistent id is ${kind(pid)}; PyTorch's is ('storage', type, key, location, numel)`);
      }
      const [, type, key, location, numel] = pid;
      if (!(type instanceof StorageType)) throw fail(at, `a storage's type is ${kind(type)}, not a torch storage type`);
      if (typeof key !== 'string' || !/^[\w.-]{1,200}$/.test(key)) throw fail(at, `a storage key is ${kind(key)}`);
      if (!isInt(numel) || numel < 0)
        throw fail(at, `storage ${key}'s element count is ${kind(numel)}, not an integer from 0 to 2^53 - 1`);
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== type.dtype || known.numel !== numel) {
          throw fail(
            at,
            `storage ${key} is named twice, as ${known.numel} ${known.dtype} and as ${numel} ${type.dtype}`,
          );
        }
        return known;
      }
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
      const ref = new StorageRef(key, type.dtype, type.size, numel, typeof location === 'string' ? location : '?');
      storages.set(key, ref);
      return ref;
    },
    reduce(callable: unknown, args: readonly unknown[], at: number): unknown {
      if (!(callable instanceof Callable)) throw fail(at, `REDUCE calls ${kind(callable)}, which is not allowed`);
      switch (callable.qualname) {
        case 'collections.OrderedDict':
          if (args.length !== 0) throw fail(at, 'OrderedDict is called with arguments; PyTorch pickles it empty');
          return new Map();
        case 'torch._utils._rebuild_parameter':
        case 'torch._utils._rebuild_parameter_with_state':
          if (!(args[0] instanceof TensorRef))
            throw fail(at, `${callable.qualname} is given ${kind(args[0])}, not a tensor`);
          return args[0];
        case 'torch._utils._rebuild_tensor_v2':
          return rebuildTensor(args, (detail) => fail(at, `_rebuild_tensor_v2: ${detail}`));
      }
      throw fail(at, `REDUCE calls ${callable.qualname}, which is not allowed`);
    },
    build(obj: unknown, state: unknown, at: number): void {
      // PyTorch sets a state dict's `_metadata` (module versions) this way; it is not needed.
      if (obj instanceof Map && (state instanceof Map || state === null)) return;
      throw fail(at, `BUILD sets ${kind(state)} on ${kind(obj)}, which a state dict never does`);
    },
  };
}

function rebuildTensor(args: readonly unknown[], fail: (detail: string) => DataFormatError): TensorRef {
  if (args.length < 6 || args.length > 7) throw fail(`expected 6 or 7 arguments, got ${args.length}`);
  const [storage, offset, shape, stride] = args;
  if (!(storage instanceof StorageRef)) throw fail(`the storage is ${kind(storage)}`);
  if (!isInt(offset) || offset < 0) throw fail(`the storage offset is ${kind(offset)}`);
  const dims = (v: unknown, what: string): number[] => {
    if (!isTuple(v) || v.length > MAX_RANK)
      throw fail(`the ${what} is ${kind(v)}, not a tuple of at most ${MAX_RANK} integers`);
    for (const d of v) if (!isInt(d) || d < 0) throw fail(`the ${what} (${v.map(String).join(', ')}) holds ${kind(d)}`);
    return v as number[];
  };
  const size = dims(shape, 'size');
  const strides = dims(stride, 'stride');
  if (size.length !== strides.length) throw fail(`size has ${size.length} dimensions, stride ${strides.length}`);
  let numel = 1n;
  let last = BigInt(offset);
  for (let i = 0; i < size.length; i++) {
    numel *= BigInt(size[i]);
    if (size[i] > 0) last += BigInt(size[i] - 1) * BigInt(strides[i]);
  }
  const shown = `size [${size.join(', ')}], stride [${strides.join(', ')}], offset ${offset}`;
  if (numel > 0n && last >= BigInt(storage.numel)) {
    throw fail(`a view with ${shown} reaches element ${last} of storage ${storage.key}, which holds ${storage.numel}`);
  }
  if (numel > BigInt(storage.numel) && numel > BigInt(MAX_OVERLAP_ELEMENTS)) {
    throw fail(
      `a view with ${shown} has ${numel} elements from a storage of ${storage.numel} (an overlapping view this large is refused)`,
    );
  }
  return new TensorRef(storage, offset, size, strides);
}

// ---- reading ------------------------------------------------------------------------------------

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
  /** The archive's byte order. */
  byteorder: 'little' | 'big';
  /** One tensor, converted to `dtype` on `backend`. */
  read(name: string, dtype?: DType, backend?: string): Tensor;
}

/** Preferred keys of the dict a training script saves around a state dict. */
export const STATE_DICT_KEYS: readonly string[] = ['state_dict', 'model', 'model_state_dict', 'net', 'network'];

function isStateDict(v: unknown): v is Map<string, TensorRef> {
  if (!(v instanceof Map) || v.size === 0) return false;
  for (const [k, t] of v) if (typeof k !== 'string' || !(t instanceof TensorRef)) return false;
  return true;
}

/**
 * Finds the state dict in an unpickled checkpoint: the value itself when it maps strings to
 * tensors, else (breadth first, at most 4 levels down) a nested dict's entry, the keys of
 * STATE_DICT_KEYS first. Undefined when there is none.
 */
export function findStateDict(root: unknown): { dict: Map<string, TensorRef>; path: string[] } | undefined {
  const queue: { v: unknown; path: string[] }[] = [{ v: root, path: [] }];
  const seen = new Set<unknown>();
  while (queue.length > 0) {
    const { v, path } = queue.shift() as { v: unknown; path: string[] };
    if (isStateDict(v)) return { dict: v, path };
    if (!(v instanceof Map) || seen.has(v) || path.length >= 4) continue;
    seen.add(v);
    const keys = [...v.keys()].filter((k): k is string => typeof k === 'string');
    keys.sort((a, b) => rank(a) - rank(b));
    for (const k of keys) queue.push({ v: v.get(k), path: [...path, k] });
  }
  return undefined;
}

function rank(key: string): number {
  const i = STATE_DICT_KEYS.indexOf(key);
  return i < 0 ? STATE_DICT_KEYS.length : i;
}

function scalars(v: unknown, prefix: string, out: Record<string, string>): void {
  if (!(v instanceof Map)) return;
  for (const [k, x] of v) {
    if (typeof k !== 'string') continue;
    if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') {
      out[prefix + k] = String(x);
    }
  }
}

function describeRoot(root: unknown): string {
  if (!(root instanceof Map)) return kind(root);
  const parts = [...root].slice(0, 8).map(([k, v]) => `${String(k)} (${kind(v)})`);
  return `a dict with ${parts.join(', ')}${root.size > 8 ? ', ...' : ''}`;
}

/** Reads a whole file, with a DataFormatError when it cannot be read. */
function readBytes(path: string): Uint8Array {
  try {
    if (!statSync(path).isFile()) throw new DataFormatError(path, 'is not a regular file');
    return readFileSync(path);
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    throw new DataFormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** True when the bytes start as the legacy (PyTorch < 1.6) format: a pickled magic number. */
function isLegacy(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

/**
 * Opens a PyTorch checkpoint (a path, or bytes with `name` for errors): the archive and its pickle
 * are checked and the state dict is found; tensors are read by `read`.
 */
export function openPth(source: string | Uint8Array, name?: string): PthCheckpoint {
  const file = typeof source === 'string' ? source : (name ?? '<buffer>');
  const bytes = typeof source === 'string' ? readBytes(source) : source;
  if (!isZip(bytes)) {
    if (isLegacy(bytes)) {
      throw new DataFormatError(
        file,
        'is a legacy PyTorch checkpoint (a plain pickle, as torch < 1.6 or _use_new_zipfile_serialization=False ' +
          'write), which convkit does not read; re-save it with torch.save(torch.load(path), path) in PyTorch 1.6 or later',
      );
    }
    throw new DataFormatError(file, 'is not a PyTorch checkpoint: it does not start with a zip header (PK\\3\\4)');
  }
  const zip = openZip(bytes, file);
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
  const root = unpickle(zip.read(pkl), file, pkl, hooks(file, zip, prefix));
  const found = findStateDict(root);
  if (!found) {
    throw new DataFormatError(
      file,
      `holds no state dict (a dict from names to tensors): the pickle holds ${describeRoot(root)}`,
    );
  }
  const metadata: Record<string, string> = {};
  scalars(root, '', metadata);
  let parent: unknown = root;
  for (let i = 0; i < found.path.length - 1; i++) {
    parent = (parent as Map<string, unknown>).get(found.path[i]);
    scalars(parent, `${found.path.slice(0, i + 1).join('.')}.`, metadata);
  }
  const entries: PthEntry[] = [...found.dict].map(([k, t]) => ({ name: k, dtype: t.dtype, shape: [...t.shape] }));
  const records = new Map<string, Uint8Array>();
  const little = byteorder === 'little';
  const read = (tensorName: string, dtype: DType = 'float32', backend?: string): Tensor => {
    const ref = found.dict.get(tensorName);
    if (!ref) throw new ArgumentError(file, `no tensor named ${JSON.stringify(tensorName)}`);
    if (!isDType(dtype)) throw new ArgumentError(file, `dtype must be 'float32' or 'float64', got ${String(dtype)}`);
    const key = ref.storage.key;
    let data = records.get(key);
    if (!data) {
      data = zip.read(`${prefix}data/${key}`);
      records.set(key, data);
    }
    const values = convert(file, `${prefix}data/${key}`, ref, data, dtype, little);
    const target = getBackend(backend);
    return wrap(target.write(values, dtype), [...ref.shape], target);
  };
  return { file, entries, statePath: found.path, metadata, byteorder, read };
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
  const ckpt = openPth(source, opts.name);
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
  }
  return { tensors, dtypes, metadata: ckpt.metadata, statePath: ckpt.statePath };
}

/** A tensor's values from its storage's bytes, following its strides. */
function convert(
  file: string,
  record: string,
  ref: TensorRef,
  data: Uint8Array,
  dtype: DType,
  little: boolean,
): FloatArray {
  const n = ref.numel;
  const out = allocFloat(dtype, n);
  if (n === 0) return out;
  const size = ref.storage.elementSize;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let get: (i: number) => number;
  switch (ref.dtype) {
    case 'float64':
      get = (i) => view.getFloat64(8 * i, little);
      break;
    case 'float32':
      get = (i) => view.getFloat32(4 * i, little);
      break;
    case 'float16':
      get = (i) => halfToNumber(view.getUint16(2 * i, little));
      break;
    case 'bfloat16':
      get = (i) => bfloat16ToNumber(view.getUint16(2 * i, little));
      break;
    case 'int64':
      get = (i) => Number(view.getBigInt64(8 * i, little));
      break;
    case 'int32':
      get = (i) => view.getInt32(4 * i, little);
      break;
    case 'int16':
      get = (i) => view.getInt16(2 * i, little);
      break;
    case 'int8':
      get = (i) => view.getInt8(i);
      break;
    case 'uint8':
      get = (i) => data[i];
      break;
    case 'bool':
      get = (i) => {
        const b = data[i];
        if (b > 1) throw new DataFormatError(file, `at byte ${i} of ${record}: a bool storage holds the byte ${b}`);
        return b;
      };
      break;
  }
  const rank = ref.shape.length;
  const contiguous = ref.stride.every(
    (s, d) => ref.shape[d] === 1 || s === ref.shape.slice(d + 1).reduce((a, b) => a * b, 1),
  );
  if (contiguous) {
    const start = ref.offset;
    if (little && ref.dtype === dtype && out.BYTES_PER_ELEMENT === size) {
      new Uint8Array(out.buffer).set(data.subarray(start * size, (start + n) * size));
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = get(start + i);
    return out;
  }
  const index = new Array<number>(rank).fill(0);
  let pos = ref.offset;
  for (let i = 0; i < n; i++) {
    out[i] = get(pos);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      pos += ref.stride[d];
      if (index[d] < ref.shape[d]) break;
      pos -= ref.stride[d] * ref.shape[d];
      index[d] = 0;
    }
  }
  return out;
}
