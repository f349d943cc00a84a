/**
 * The values of a fuzz case: a tensor is described by its shape and a seed (plus a scale, a
 * distribution and a fraction of special values), and materialised deterministically from them
 * with convkit's own Generator; a saved reproduction stores the values themselves (encoded so
 * that NaN, ±Infinity and -0 survive JSON).
 */
import { Generator } from '../../src/core/random.js';

/** A number as JSON can hold it: finite numbers as themselves, the rest as strings. */
export type Encoded = number | 'NaN' | 'Infinity' | '-Infinity' | '-0';

export type Dist = 'normal' | 'positive' | 'uniform';

/** One input tensor of a case. */
export interface TensorSpec {
  shape: number[];
  /** Seeds the values (ignored when `values` is given). */
  seed: number;
  /** Standard deviation of the normal draw (or the upper end of the uniform one); default 1. */
  scale?: number;
  /** Default 'normal'; 'positive' is |normal| + 0.05 * scale (log, sqrt, variances). */
  dist?: Dist;
  /** Fraction of the elements replaced by special values (SPECIALS); default 0. */
  special?: number;
  /** Default float32. */
  dtype?: 'float32' | 'float64';
  /** Explicit values (saved reproductions); overrides the seed. */
  values?: Encoded[];
}

/**
 * The special values a case may contain: NaN, both infinities, negative zero, values near the
 * float32 range's ends (overflow when squared or summed), tiny and subnormal float32 values.
 */
export const SPECIALS: readonly number[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0,
  1e30,
  -1e30,
  3e38,
  1e-30,
  -1e-40,
];

export function encode(v: number): Encoded {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return v;
}

export function decode(v: Encoded): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  if (v === '-0') return -0;
  throw new Error(`not an encoded number: ${JSON.stringify(v)}`);
}

export const sizeOfShape = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** The values of a tensor spec, rounded to its dtype. */
export function materialize(spec: TensorSpec): Float32Array | Float64Array {
  const n = sizeOfShape(spec.shape);
  const out = spec.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  if (spec.values) {
    if (spec.values.length !== n) throw new Error(`${spec.values.length} values for shape [${spec.shape.join(', ')}]`);
    for (let i = 0; i < n; i++) out[i] = decode(spec.values[i]);
    return out;
  }
  const g = new Generator(spec.seed);
  const scale = spec.scale ?? 1;
  const special = spec.special ?? 0;
  for (let i = 0; i < n; i++) {
    let v: number;
    if (spec.dist === 'uniform') v = scale * g.uniform();
    else if (spec.dist === 'positive') v = scale * (Math.abs(g.normal()) + 0.05);
    else v = scale * g.normal();
    if (special > 0 && g.uniform() < special) v = SPECIALS[g.nextUint32() % SPECIALS.length];
    out[i] = v;
  }
  return out;
}

/** The spec with its values written out (for a self-contained reproduction). */
export function withValues(spec: TensorSpec): TensorSpec {
  return { ...spec, values: Array.from(materialize(spec), encode) };
}

/** Largest finite magnitude (0 when there is none). */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m && a !== Number.POSITIVE_INFINITY) m = a;
  }
  return m;
}

/** Smallest non-zero finite magnitude (Infinity when there is none). */
export function minAbs(values: ArrayLike<number>): number {
  let m = Number.POSITIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > 0 && a < m) m = a;
  }
  return m;
}

/** True when any value is NaN, infinite, -0 or at least 1e20 in magnitude. */
export function hasSpecial(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || Object.is(v, -0) || Math.abs(v) >= 1e20 || (v !== 0 && Math.abs(v) < 1e-20)) return true;
  }
  return false;
}
