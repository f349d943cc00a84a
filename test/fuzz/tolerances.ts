/**
 * How closely the native backend (oneDNN, float32 arithmetic) must agree with the reference
 * backend (plain TypeScript, which computes float32 tensors in float64 and rounds once): the one
 * table of per-op tolerances the differential fuzzer (test/fuzz, docs/fuzzing.md) checks against.
 *
 * Element i of every output and input gradient passes when
 *
 *     NaN on both sides, or the same infinity on both sides, or
 *     |native - ref| <= atol + rtol * |ref| + dot * sqrt(k) * mag * EPS32
 *
 * where k and mag come from the op's spec in ops.ts: k is the number of terms a sum over (a
 * matmul's inner size, a convolution's C/groups * kH * kW, a reduction's count), mag the largest
 * |term| (for a matmul max|a| * max|b|, and for the gradients max|gy| * max|b| etc., from finite
 * values only). -0 and +0 are equal. A NaN on one side only, or an infinity against a finite
 * value, always disagrees.
 *
 * `specialValues`: whether cases of this op contain special values (NaN, ±Infinity, -0, 1e30,
 * 3e38, subnormals; see values.ts) in the test suite and `npm run fuzz` (`--all-specials` ignores
 * it). It is false where the backends are known to disagree on them.
 */

/** float32 machine epsilon, 2^-23. */
export const EPS32 = 2 ** -23;

export interface Tolerance {
  rtol: number;
  atol: number;
  /** Factor of the dot-product term sqrt(k) * mag * EPS32 (0 when the op sums nothing). */
  dot: number;
  specialValues: boolean;
}

/** Bit-exact: copies, comparisons, max/min, relu, selections. */
const EXACT: Tolerance = { rtol: 0, atol: 0, dot: 0, specialValues: true };
/** One rounding apart: elementwise arithmetic done in float32 on one side, float64 then rounded on the other. */
const ULP: Tolerance = { rtol: 2 * EPS32, atol: 0, dot: 0, specialValues: true };
/** Elementwise with broadcasting: the forward is one rounding; a broadcast operand's gradient is a sum. */
const BROADCAST: Tolerance = { rtol: 2 * EPS32, atol: 0, dot: 4, specialValues: true };
/**
 * oneDNN's vectorised transcendental approximations (exp, tanh, logistic) are a few ulps off, and
 * their gradients (gy * (1 - y^2) and the like) lose digits to cancellation: dot's k = 1, mag = max(1, |gy|).
 */
const TRANSCENDENTAL: Tolerance = { rtol: 8 * EPS32, atol: 1e-7, dot: 4, specialValues: true };
/** Sums of products accumulated in float32 in another order. */
const DOT: Tolerance = { rtol: 1e-4, atol: 1e-6, dot: 16, specialValues: true };
/** Normalisations and softmax: sums, a division by a square root or a logarithm. */
const NORM: Tolerance = { rtol: 1e-4, atol: 1e-5, dot: 16, specialValues: true };

/**
 * The table's switch off: this op's cases get no special values (by default). Every use says why.
 */
const noSpecials = (t: Tolerance): Tolerance => ({ ...t, specialValues: false });

/**
 * The table, by fuzz op name (ops.ts). Ops the native backend runs with the reference kernel
 * (exp, log, eq, ...) are exact there; they stay in the table so that a native kernel added later
 * meets a deliberate tolerance.
 */
export const TOLERANCES: Readonly<Record<string, Tolerance>> = {
  relu: EXACT,
  sigmoid: TRANSCENDENTAL,
  tanh: TRANSCENDENTAL,
  neg: EXACT,
  exp: TRANSCENDENTAL,
  log: TRANSCENDENTAL,
  sqrt: ULP,
  square: ULP,
  abs: EXACT,
  pow: TRANSCENDENTAL,
  clamp: EXACT,
  add: BROADCAST,
  // relu(add): exact where the shapes match; a broadcast runs as the two ops, whose gradients sum
  addRelu: BROADCAST,
  sub: BROADCAST,
  mul: BROADCAST,
  div: BROADCAST,
  maximum: BROADCAST,
  minimum: BROADCAST,
  eq: EXACT,
  gt: EXACT,
  lt: EXACT,
  addScalar: ULP,
  subScalar: ULP,
  mulScalar: ULP,
  divScalar: ULP,
  rsub: ULP,
  cast: ULP,
  full: EXACT,
  arange: EXACT,
  random: EXACT,
  reshape: ULP,
  flatten: ULP,
  squeeze: ULP,
  permute: EXACT,
  transpose: EXACT,
  slice: EXACT,
  concat: EXACT,
  concatRepeated: EXACT,
  pad: EXACT,
  expand: DOT,
  matmul: DOT,
  linear: DOT,
  sum: DOT,
  mean: DOT,
  max: ULP,
  min: ULP,
  argmax: EXACT,
  variance: NORM,
  std: NORM,
  softmax: NORM,
  logSoftmax: NORM,
  // disagrees: a NaN or Inf weight on a tap that lies in the padding. The ref convolves by im2col
  // (padding is a 0 it multiplies: 0 * NaN = NaN), native oneDNN skips padding taps (as PyTorch's
  // mkldnn path does), so the output there is finite on native and NaN on the ref (fuzz seed 7,
  // e.g. x [1,1,5,6], w [1,1,3,3] holding Inf, padding 1). Not a native bug; turn this on when the
  // ref skips padding taps. NaN/Inf in the input (strided ones included) agree.
  conv2d: noSpecials(DOT),
  // the same as conv2d
  conv2dWide: noSpecials(DOT),
  // the same as conv2d (a NaN weight on a padding tap: ref NaN, native 0 after the ReLU or finite)
  conv2dFused: noSpecials(DOT),
  // the same as conv2d
  conv2dFusedWide: noSpecials(DOT),
  maxPool2d: { rtol: 0, atol: 0, dot: 2, specialValues: true },
  avgPool2d: DOT,
  adaptiveAvgPool2d: DOT,
  // disagrees (test/fuzz/found/batchNorm-zero-variance-relu.json): eval with zero variance and eps 0; the ref folds the mean into the shift (0 * Inf = NaN), native gives Inf
  batchNorm: noSpecials(NORM),
  // disagrees (test/fuzz/found/concatBatchNorm-relu-nan-weight.json): with relu and a NaN weight, ref NaN, native 0 (the fused ReLU drops the NaN); with an Infinity weight, ref NaN (it folds the mean into the shift), native Infinity
  concatBatchNorm: noSpecials(NORM),
  // one C++ loop rounding as the reference kernel does at every step (special values included)
  foldBatchNorm: EXACT,
  localResponseNorm: NORM,
  dropout: ULP,
  crossEntropy: NORM,
  nllLoss: NORM,
  // its conv meets conv2d's padding-tap difference (a non-finite weight on a tap in the padding:
  // ref NaN, native skips the tap; test/fuzz/found had convChain-special-1, seed 1, 1,500 cases)
  convChain: noSpecials(NORM),
};

export function toleranceOf(op: string): Tolerance {
  const t = TOLERANCES[op];
  if (!t) throw new Error(`no tolerance for fuzz op '${op}': add it to TOLERANCES in test/fuzz/tolerances.ts`);
  return t;
}
