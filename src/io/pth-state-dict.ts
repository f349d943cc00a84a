/**
 * From an unpickled PyTorch checkpoint to tensors: finding the state dict in whatever a training
 * script saved around it, the numbers and strings beside it (metadata), and each tensor's values
 * from its storage's bytes, following its strides, in any storage dtype.
 */
import { allocFloat, type DType, type FloatArray } from '../core/dtype.js';
import { DataFormatError } from '../core/errors.js';
import { bfloat16ToNumber, halfToNumber } from './elements.js';
import { kind } from './pickle.js';
import { TensorRef } from './pth-pickle.js';

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

export function describeRoot(root: unknown): string {
  if (!(root instanceof Map)) return kind(root);
  const parts = [...root].slice(0, 8).map(([k, v]) => `${String(k)} (${kind(v)})`);
  return `a dict with ${parts.join(', ')}${root.size > 8 ? ', ...' : ''}`;
}

/** Numbers, strings and booleans at the top of `root` and beside the state dict at `path` (epoch: '3'). */
export function stateDictMetadata(root: unknown, path: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  scalars(root, '', metadata);
  let parent: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    parent = (parent as Map<string, unknown>).get(path[i]);
    scalars(parent, `${path.slice(0, i + 1).join('.')}.`, metadata);
  }
  return metadata;
}

/** Whether a tensor's elements lie in row-major order, one after the other, in its storage. */
export function isContiguous(ref: TensorRef): boolean {
  return ref.stride.every((s, d) => ref.shape[d] === 1 || s === ref.shape.slice(d + 1).reduce((a, b) => a * b, 1));
}

/** A tensor's values from its storage's bytes, following its strides. */
export function tensorValues(
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
  if (isContiguous(ref)) {
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
