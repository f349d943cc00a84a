/**
 * What a PyTorch checkpoint's pickle may hold, and what it becomes (used by pth.ts for the zip
 * format and pth-legacy.ts for the legacy one): the storage types, the fixed table of allowed
 * globals (ALLOWED_GLOBALS; any other name, such as os.system, builtins.eval or a model class, is
 * refused with its name and nothing is ever called), persistent ids as storages, and
 * `_rebuild_tensor_v2` calls as strided views whose extent is checked against their storage.
 */
import type { DataFormatError } from '../core/errors.js';
import { isTuple, kind, type UnpickleHooks } from './pickle.js';

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
/** The device tags torch.save writes as a storage's location (PyTorch refuses any other when loading). */
const LOCATION = /^(cpu|mps|meta|(cuda|xpu|hpu|xla)(:\d{1,4})?)$/;

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

/** Where the unpickler's hooks report errors, and how a checkpoint's layout checks a storage. */
export interface PthPickleContext {
  /** An error at byte `at` of the pickle. */
  fail(at: number, detail: string): DataFormatError;
  /**
   * true for the legacy format, whose persistent ids carry a sixth field (view metadata, None
   * since PyTorch 1.0) and whose storages follow the pickle, so they are checked afterwards.
   */
  legacy: boolean;
  /** Checks a storage's bytes against the file when it is first named (the zip format: its record). */
  checkStorage(key: string, type: { dtype: PthDType; size: number }, numel: number, at: number): void;
}

/** The unpickler's hooks for a checkpoint: the allowed globals, tensors rebuilt as views of storages. */
export function pthHooks(ctx: PthPickleContext): UnpickleHooks & { storages: Map<string, StorageRef> } {
  const { fail } = ctx;
  const storages = new Map<string, StorageRef>();
  return {
    storages,
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
      const fields = ctx.legacy ? 6 : 5;
      if (!isTuple(pid) || pid.length !== fields || pid[0] !== 'storage') {
        throw fail(
          at,
          `a persistent id is ${kind(pid)}; PyTorch's is ('storage', type, key, location, numel${ctx.legacy ? ', None' : ''})`,
        );
      }
      const [, type, key, location, numel, view] = pid;
      if (ctx.legacy && view !== null) {
        throw fail(at, `a storage's view metadata is ${kind(view)}; convkit reads None (what torch >= 1.0 writes)`);
      }
      if (!(type instanceof StorageType)) throw fail(at, `a storage's type is ${kind(type)}, not a torch storage type`);
      if (typeof key !== 'string' || !/^[\w.-]{1,200}$/.test(key)) throw fail(at, `a storage key is ${kind(key)}`);
      if (typeof location !== 'string' || !LOCATION.test(location)) {
        throw fail(at, `storage ${key}'s location is ${kind(location)}, not a device tag (cpu, cuda:0, mps, ...)`);
      }
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
      ctx.checkStorage(key, type, numel, at);
      const ref = new StorageRef(key, type.dtype, type.size, numel, location);
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
  const shown = (): string => `size [${size.join(', ')}], stride [${strides.join(', ')}], offset ${offset}`;
  if (numel > 0n && last >= BigInt(storage.numel)) {
    throw fail(
      `a view with ${shown()} reaches element ${last} of storage ${storage.key}, which holds ${storage.numel}`,
    );
  }
  if (numel > BigInt(storage.numel) && numel > BigInt(MAX_OVERLAP_ELEMENTS)) {
    throw fail(
      `a view with ${shown()} has ${numel} elements from a storage of ${storage.numel} (an overlapping view this large is refused)`,
    );
  }
  return new TensorRef(storage, offset, size, strides);
}
