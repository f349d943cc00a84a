/**
 * Element encodings shared by the weight formats: float16 and bfloat16 to and from numbers, and a
 * tensor's values as little-endian bytes of a stored dtype (F64, F32, F16, BF16, or I64 for
 * BatchNorm's num_batches_tracked).
 *
 * The narrowing conversions are PyTorch's, bit for bit (test/golden/half.json, from PyTorch 1.13):
 * round to nearest, ties to even, subnormal results kept, overflow to infinity. A float64 value is
 * rounded to float32 first, as PyTorch's `double.half()` and `double.bfloat16()` do (so twice).
 * NaN: float16 keeps the sign, `±0x7e00`; bfloat16 is 0xffff from float32 (PyTorch's vectorised
 * CPU path) and 0x7fc0 from float64 (its scalar path).
 */
import type { FloatArray } from '../core/dtype.js';
import { ArgumentError } from '../core/errors.js';

/** The machine's byte order, from a typed array (no Node built-in, so the page can read weights too). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The floating dtypes a writer can store, by their safetensors names. */
export const WEIGHT_DTYPES = ['F64', 'F32', 'F16', 'BF16'] as const;
export type WeightDType = (typeof WEIGHT_DTYPES)[number];
/** What a writer stores: a floating dtype, or int64 (num_batches_tracked). */
export type StoredDType = WeightDType | 'I64';

export const STORED_SIZES: Readonly<Record<StoredDType, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8 };

const scratch = new DataView(new ArrayBuffer(4));

/** Half precision (IEEE 754 binary16) to a number: subnormals, infinities and NaN included. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 (the top 16 bits of a float32) to a number. */
export function bfloat16ToNumber(h: number): number {
  scratch.setUint32(0, (h & 0xffff) << 16);
  return scratch.getFloat32(0);
}

/** Rounds a non-negative number to an integer, ties to even. */
function roundHalfEven(m: number): number {
  const f = Math.floor(m);
  const d = m - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** A float32 (given as its bits) to float16 bits. */
export function float32BitsToHalf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  // 65520 (0x477ff000) is the tie between 65504 and 2^16, which rounds (to even) to infinity.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    // Below 2^-14 the result is subnormal: a multiple of 2^-24, exactly representable once scaled.
    scratch.setUint32(0, abs);
    return sign | roundHalfEven(scratch.getFloat32(0) * 2 ** 24);
  }
  const mantissa = abs & 0x7fffff;
  let half = ((((abs >>> 23) - 127 + 15) << 10) | (mantissa >>> 13)) >>> 0;
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** A float32 (given as its bits) to bfloat16 bits; `nan` is what NaN becomes. */
export function float32BitsToBfloat16(bits: number, nan = 0xffff): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return nan;
  return Math.floor((bits + 0x7fff + ((bits >>> 16) & 1)) / 0x10000);
}

/** A number to float16 bits, as PyTorch converts a float32 (or, through float32, a float64). */
export function numberToHalf(x: number): number {
  const f = new Float32Array([x]);
  return float32BitsToHalf(new Uint32Array(f.buffer)[0]);
}

/** A number to bfloat16 bits, as PyTorch converts a float64 (through float32; NaN to 0x7fc0). */
export function numberToBfloat16(x: number): number {
  const f = new Float32Array([x]);
  return float32BitsToBfloat16(new Uint32Array(f.buffer)[0], 0x7fc0);
}

/** Values to little-endian bytes of `dtype`; I64 rounds (non-finite values become 0). */
export function encodeElements(values: FloatArray, dtype: StoredDType): Uint8Array {
  const n = values.length;
  if (
    LITTLE_ENDIAN &&
    ((dtype === 'F32' && values instanceof Float32Array) || (dtype === 'F64' && values instanceof Float64Array))
  ) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  }
  const out = new Uint8Array(n * STORED_SIZES[dtype]);
  const v = new DataView(out.buffer);
  switch (dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) v.setFloat64(8 * i, values[i], true);
      break;
    case 'F32':
      for (let i = 0; i < n; i++) v.setFloat32(4 * i, values[i], true);
      break;
    case 'I64':
      for (let i = 0; i < n; i++)
        v.setBigInt64(8 * i, BigInt(Math.round(Number.isFinite(values[i]) ? values[i] : 0)), true);
      break;
    case 'F16':
    case 'BF16': {
      // Float32 values are converted from their own bits (a NaN's sign is kept); float64 ones through float32.
      const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
      const bits = new Uint32Array(f32.buffer, f32.byteOffset, n);
      const nan = values instanceof Float32Array ? 0xffff : 0x7fc0;
      for (let i = 0; i < n; i++) {
        v.setUint16(2 * i, dtype === 'F16' ? float32BitsToHalf(bits[i]) : float32BitsToBfloat16(bits[i], nan), true);
      }
      break;
    }
  }
  return out;
}

/**
 * The dtype a writer stores a tensor as: `requested` (default: F64 for float64 tensors, F32 for
 * the rest). num_batches_tracked, a count, becomes I64 where the format has always stored it so
 * (`countsAsInt64`, .pth) and under a 16-bit dtype, where a count past 2048 (float16) or 256
 * (bfloat16) would not be exact; PyTorch's `model.half()` leaves it int64 too.
 */
export function storedDType(
  name: string,
  tensorDType: 'float32' | 'float64',
  requested: WeightDType | undefined,
  countsAsInt64: boolean,
): StoredDType {
  if (name.endsWith('num_batches_tracked') && (countsAsInt64 || requested === 'F16' || requested === 'BF16')) {
    return 'I64';
  }
  return requested ?? (tensorDType === 'float64' ? 'F64' : 'F32');
}

/** Checks a writer's `dtype` option (a caller outside TypeScript may pass anything). */
export function checkWeightDType(op: string, dtype: unknown): WeightDType | undefined {
  if (dtype === undefined || (WEIGHT_DTYPES as readonly unknown[]).includes(dtype)) return dtype as WeightDType;
  throw new ArgumentError(op, `dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
}
