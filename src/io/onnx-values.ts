/**
 * Reading values out of a decoded ONNX model: tensors (initializers and Constant nodes' values,
 * from raw_data or the typed fields other writers use) and node attributes with their defaults.
 * Float tensors come out as Float32Array; integer tensors (shapes, pads, indices) as plain
 * numbers, since they only ever drive shape arithmetic.
 */
import { endianness } from 'node:os';
import { ATTR, ONNX_DOUBLE, ONNX_FLOAT, ONNX_INT32, ONNX_INT64, type OnnxNode, type OnnxTensor } from './onnx-proto.js';

/** A tensor's values as convkit uses them: floats for computing, integers for shape arithmetic. */
export type OnnxValues =
  | { kind: 'float'; dims: number[]; data: Float32Array }
  | { kind: 'int'; dims: number[]; data: number[] };

const DTYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

/** The name of an ONNX element type (`float32`, `int64`, ...). */
export function onnxDTypeName(dataType: number): string {
  return DTYPE_NAMES[dataType] ?? `data type ${dataType}`;
}

const LITTLE_ENDIAN = endianness() === 'LE';

const BYTES: Readonly<Record<number, number>> = { [ONNX_FLOAT]: 4, [ONNX_INT32]: 4, [ONNX_INT64]: 8, [ONNX_DOUBLE]: 8 };

/**
 * The values of `t`; `what` names it in errors (`initializer 'conv1.weight'`). Throws a plain
 * Error with the detail; the importer adds the file name.
 */
export function tensorValues(t: OnnxTensor, what: string): OnnxValues {
  const dims = (t.dims ?? []).map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new Error(`${what} has invalid dims [${dims.join(', ')}]`);
  const count = dims.reduce((a, b) => a * b, 1);
  const type = t.dataType ?? 0;
  if (t.dataLocation === 1)
    throw new Error(`${what} keeps its values in an external file, which convkit does not read`);
  const size = BYTES[type];
  if (size === undefined)
    throw new Error(`${what} is ${onnxDTypeName(type)}; convkit reads float32, float64, int32 and int64 tensors`);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const typed =
    type === ONNX_FLOAT
      ? t.floatData
      : type === ONNX_DOUBLE
        ? t.doubleData
        : type === ONNX_INT64
          ? t.int64Data
          : t.int32Data;
  const stored = raw ? raw.length / size : (typed?.length ?? 0);
  if (stored !== count) {
    const held = raw ? `${raw.length} bytes (${stored} values)` : `${stored} values`;
    throw new Error(`${what} has dims [${dims.join(', ')}] (${count} values) but holds ${held}`);
  }
  if (!raw) {
    const values = typed ?? [];
    if (type === ONNX_FLOAT || type === ONNX_DOUBLE) return { kind: 'float', dims, data: Float32Array.from(values) };
    return { kind: 'int', dims, data: values.map(Number) };
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (type === ONNX_FLOAT && LITTLE_ENDIAN) {
    // One copy to an aligned buffer (raw_data may start at any byte; a Buffer's slice() would share memory).
    return { kind: 'float', dims, data: new Float32Array(new Uint8Array(raw).buffer, 0, count) };
  }
  if (type === ONNX_FLOAT) {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
    return { kind: 'float', dims, data };
  }
  if (type === ONNX_DOUBLE) {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, true);
    return { kind: 'float', dims, data };
  }
  const data = new Array<number>(count);
  for (let i = 0; i < count; i++)
    data[i] = type === ONNX_INT64 ? clampInt64(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true);
  return { kind: 'int', dims, data };
}

/** int64 to a number; INT64_MAX/MIN (Slice's "to the end") become the largest safe integers. */
function clampInt64(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

/** Typed access to a node's attributes, with ONNX's defaults. */
export class NodeAttributes {
  constructor(private readonly node: OnnxNode) {}

  private find(name: string) {
    return (this.node.attribute ?? []).find((a) => a.name === name);
  }

  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  int(name: string, fallback: number): number {
    const a = this.find(name);
    return a?.i === undefined ? fallback : Number(a.i);
  }

  float(name: string, fallback: number): number {
    const a = this.find(name);
    return a?.f === undefined ? fallback : a.f;
  }

  ints(name: string, fallback: readonly number[]): number[] {
    const a = this.find(name);
    return a?.ints === undefined || a.ints.length === 0 ? [...fallback] : a.ints.map(Number);
  }

  string(name: string, fallback: string): string {
    const a = this.find(name);
    return a?.s === undefined ? fallback : new TextDecoder().decode(a.s);
  }

  /** A Constant node's value, from whichever of its value attributes is set. */
  constantValue(what: string): OnnxValues {
    const a = (this.node.attribute ?? [])[0];
    if (!a) throw new Error(`${what} has no value attribute`);
    if (a.type === ATTR.TENSOR && a.t) return tensorValues(a.t, what);
    if (a.name === 'value_float') return { kind: 'float', dims: [], data: Float32Array.of(a.f ?? 0) };
    if (a.name === 'value_floats')
      return { kind: 'float', dims: [a.floats?.length ?? 0], data: Float32Array.from(a.floats ?? []) };
    if (a.name === 'value_int') return { kind: 'int', dims: [], data: [Number(a.i ?? 0)] };
    if (a.name === 'value_ints') return { kind: 'int', dims: [a.ints?.length ?? 0], data: (a.ints ?? []).map(Number) };
    throw new Error(`${what} has the value attribute '${a.name}', which convkit does not read`);
  }
}
