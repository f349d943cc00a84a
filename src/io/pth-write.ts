/**
 * Writing PyTorch checkpoints (the reading side and the format: pth.ts): a zip laid out as
 * torch.save lays it out (records aligned to 64 bytes, `version`, `byteorder`), with a protocol-2
 * pickle of an OrderedDict of `_rebuild_tensor_v2` calls, so that `torch.load(path,
 * weights_only=True)` accepts it; `num_batches_tracked` is written as int64. Floats are stored as
 * float32 / float64, or all as the `dtype` asked for (HalfStorage, BFloat16Storage: rounded as
 * PyTorch's `.half()` / `.bfloat16()` round, elements.ts). Writes are atomic.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { checkWeightDType, encodeElements, type StoredDType, storedDType, type WeightDType } from './elements.js';
import type { TensorSource } from './safetensors-write.js';
import { writeStoredZip, type ZipRecord } from './zip.js';

/** Pickle opcodes the writer uses. */
const P = {
  PROTO: 0x80,
  GLOBAL: 0x63,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  EMPTY_TUPLE: 0x29,
  REDUCE: 0x52,
  MARK: 0x28,
  BINUNICODE: 0x58,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  LONG1: 0x8a,
  TUPLE: 0x74,
  BINPERSID: 0x51,
  NEWFALSE: 0x89,
  SETITEMS: 0x75,
  STOP: 0x2e,
} as const;

class PickleWriter {
  private parts: number[] = [];
  private memo = new Map<string, number>();
  private next = 0;
  private encoder = new TextEncoder();
  op(...codes: number[]): void {
    for (const c of codes) this.parts.push(c);
  }
  u32(n: number): void {
    this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  int(n: number): void {
    if (n >= 0 && n < 256) this.op(P.BININT1, n);
    else if (n >= 0 && n < 65536) this.op(P.BININT2, n & 0xff, n >>> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.op(P.BININT);
      this.u32(n >>> 0);
    } else {
      // LONG1: little-endian two's complement, as short as it goes.
      let v = BigInt(n);
      const bytes: number[] = [];
      do {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
      } while (!(v === 0n && !(bytes[bytes.length - 1] & 0x80)) && !(v === -1n && bytes[bytes.length - 1] & 0x80));
      this.op(P.LONG1, bytes.length, ...bytes);
    }
  }
  str(s: string): void {
    const b = this.encoder.encode(s);
    this.op(P.BINUNICODE);
    this.u32(b.length);
    for (const x of b) this.parts.push(x);
  }
  /** GLOBAL, memoised: the first use writes it, later ones fetch it. */
  global(module: string, name: string): void {
    const key = `${module}\n${name}\n`;
    const i = this.memo.get(key);
    if (i !== undefined) {
      if (i < 256) this.op(P.BINGET, i);
      else {
        this.op(P.LONG_BINGET);
        this.u32(i);
      }
      return;
    }
    this.op(P.GLOBAL, ...this.encoder.encode(key));
    const at = this.next++;
    this.memo.set(key, at);
    if (at < 256) this.op(P.BINPUT, at);
    else {
      this.op(P.LONG_BINPUT);
      this.u32(at);
    }
  }
  tuple(values: readonly number[]): void {
    if (values.length === 0) {
      this.op(P.EMPTY_TUPLE);
      return;
    }
    this.op(P.MARK);
    for (const v of values) this.int(v);
    this.op(P.TUPLE);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** The storage class PyTorch pickles for each stored dtype. */
const STORAGE_CLASSES: Readonly<Record<StoredDType, string>> = {
  F64: 'DoubleStorage',
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  I64: 'LongStorage',
};

interface PlannedTensor {
  name: string;
  tensor: Tensor;
  dtype: StoredDType;
}

export interface WritePthOptions {
  /** Store every float tensor as this dtype (default: float32 as F32, float64 as F64); num_batches_tracked stays int64. */
  dtype?: WeightDType;
}

function planPth(
  op: string,
  tensors: TensorSource,
  requested: WeightDType | undefined,
): { pickle: Uint8Array; items: PlannedTensor[] } {
  checkWeightDType(op, requested);
  const pairs = tensors instanceof Map ? [...tensors] : Object.entries(tensors as Record<string, Tensor>);
  const items: PlannedTensor[] = [];
  for (const [name, tensor] of pairs) {
    if (typeof name !== 'string') throw new ArgumentError(op, `${String(name)} cannot name a tensor`);
    if (!tensor.backend.hasData) {
      throw new ArgumentError(
        op,
        `tensor ${JSON.stringify(name)} is on the '${tensor.backend.name}' backend and has no values`,
      );
    }
    items.push({ name, tensor, dtype: storedDType(name, tensor.dtype, requested, true) });
  }
  const w = new PickleWriter();
  w.op(P.PROTO, 2);
  w.global('collections', 'OrderedDict');
  w.op(P.EMPTY_TUPLE, P.REDUCE, P.MARK);
  items.forEach((t, i) => {
    const shape = t.tensor.shape;
    const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    w.str(t.name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(P.MARK, P.MARK);
    w.str('storage');
    w.global('torch', STORAGE_CLASSES[t.dtype]);
    w.str(String(i));
    w.str('cpu');
    w.int(t.tensor.size);
    w.op(P.TUPLE, P.BINPERSID);
    w.int(0);
    w.tuple(shape);
    w.tuple(strides);
    w.op(P.NEWFALSE);
    w.global('collections', 'OrderedDict');
    w.op(P.EMPTY_TUPLE, P.REDUCE, P.TUPLE, P.REDUCE);
  });
  w.op(P.SETITEMS, P.STOP);
  return { pickle: w.bytes(), items };
}

function* records(pickle: Uint8Array, items: PlannedTensor[]): Generator<ZipRecord> {
  const enc = new TextEncoder();
  yield { name: 'archive/data.pkl', data: pickle };
  yield { name: 'archive/byteorder', data: enc.encode('little') };
  for (let i = 0; i < items.length; i++)
    yield { name: `archive/data/${i}`, data: encodeElements(items[i].tensor.toArray(), items[i].dtype) };
  yield { name: 'archive/version', data: enc.encode('3\n') };
}

/** A checkpoint's bytes in memory (for small dicts and tests; writePth streams). */
export function encodePth(tensors: TensorSource, opts: WritePthOptions = {}): Uint8Array {
  const { pickle, items } = planPth('encodePth', tensors, opts.dtype);
  const chunks: Uint8Array[] = [];
  const length = writeStoredZip(records(pickle, items), (b) => chunks.push(b), 'encodePth');
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Writes a state dict as a PyTorch checkpoint that `torch.load(path, weights_only=True)` reads
 * (an OrderedDict of tensors; float32 as FloatStorage, float64 as DoubleStorage, keys ending in
 * num_batches_tracked as int64 LongStorage, as PyTorch's BatchNorm has them; `opts.dtype` stores
 * every other tensor as F64, F32, F16 or BF16). The file is written
 * beside `path` and renamed into place, so it appears whole or not at all.
 */
export function writePth(
  path: string,
  tensors: TensorSource,
  opts: WritePthOptions & { temporary?: string } = {},
): void {
  const { pickle, items } = planPth('writePth', tensors, opts.dtype);
  const tmp = opts.temporary ?? `${path}.${process.pid}.tmp`;
  let renamed = false;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeStoredZip(
        records(pickle, items),
        (b) => {
          for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done);
        },
        path,
      );
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) rmSync(tmp, { force: true });
  }
}
