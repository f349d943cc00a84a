/**
 * The op cases of the native conformance suite: every native kernel, forward and backward, on
 * random shapes including the awkward ones, plus cases that must fall back to the reference
 * kernels (they check the fallback path computes the same thing on native tensors).
 */
import { noGrad } from '../../src/core/grad-mode.js';
import type { Shape } from '../../src/core/shape.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';

export interface OpCase {
  name: string;
  /** Shapes of the differentiable inputs, filled with seeded uniform values in [-1, 1). */
  inputs: Shape[];
  f: (...xs: Tensor[]) => Tensor;
  /**
   * 'always': the test forces the native conv's space-to-depth cut (NativeRuntime.spaceToDepth)
   * and fails unless the cut ran; on AVX2 oneDNN would take it anyway, on AVX-512 it would not.
   */
  spaceToDepth?: 'always';
  /** The case must not reach oneDNN (the native backend falls back to the reference kernel). */
  refFallback?: true;
}

/** Constant (non-trainable) values on the backend of `like`, e.g. running statistics. */
const constant = (like: Tensor, values: number[]): Tensor =>
  ops.fromArray(values, [values.length], { backend: like.backend.name });

/** A 3x3 pad-1 convolution: on native its output is usually in a oneDNN blocked layout. */
const conv3 = (x: Tensor, w: Tensor): Tensor => ops.conv2d(x, w, null, { padding: 1 });

/** C running-statistics-like constants: v0, v0 + step, ... */
const ramp = (like: Tensor, c: number, v0: number, step: number): Tensor =>
  constant(
    like,
    Array.from({ length: c }, (_, i) => v0 + step * i),
  );

export const OP_CASES: OpCase[] = [
  // Convolutions: conv2d.ts of the native backend takes every float32 case.
  {
    name: 'conv2d 3x3 pad 1 + bias',
    inputs: [[2, 3, 8, 8], [4, 3, 3, 3], [4]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1 }),
  },
  {
    name: 'conv2d groups=2 stride 2 odd sizes',
    inputs: [
      [2, 4, 9, 7],
      [6, 2, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2, padding: 1, groups: 2 }),
  },
  {
    name: 'conv2d asymmetric padding + dilation',
    inputs: [[1, 3, 10, 9], [5, 3, 3, 2], [5]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: [0, 2, 1, 0], dilation: [2, 1] }),
  },
  { name: 'conv2d 1x1 on 1x1 maps', inputs: [[4, 8, 1, 1], [16, 8, 1, 1], [16]], f: (x, w, b) => ops.conv2d(x, w, b) },
  {
    name: 'conv2d 1x1 stride 2 (downsample)',
    inputs: [
      [2, 4, 7, 7],
      [8, 4, 1, 1],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2 }),
  },
  {
    name: 'conv2d 7x7 stride 2 pad 3 (stem)',
    inputs: [
      [1, 3, 17, 15],
      [4, 3, 7, 7],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2, padding: 3 }),
  },
  // oneDNN's AVX2 build has only im2col + gemm for these, so convkit runs their space-to-depth cut
  // (stride 1) instead; the conformance test forces the cut on CPUs where oneDNN runs them directly.
  {
    name: 'conv2d 11x11 stride 4 pad 2 + bias (AlexNet stem, space-to-depth)',
    spaceToDepth: 'always',
    inputs: [[2, 3, 31, 29], [8, 3, 11, 11], [8]],
    f: (x, w, b) => ops.conv2d(x, w, b, { stride: 4, padding: 2 }),
  },
  {
    name: 'conv2d 5x4 stride 3x2, asymmetric padding (space-to-depth)',
    spaceToDepth: 'always',
    inputs: [
      [1, 2, 13, 12],
      [4, 2, 5, 4],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: [3, 2], padding: [1, 2, 0, 1] }),
  },
  {
    name: 'conv2d depthwise (groups = channels)',
    inputs: [[2, 4, 6, 6], [4, 1, 3, 3], [4]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1, groups: 4 }),
  },
  {
    name: 'conv2d 2 groups of 24 channels (groups do not fill 16-channel blocks)',
    inputs: [
      [2, 48, 5, 5],
      [32, 24, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 1, groups: 2 }),
  },
  {
    name: 'conv2d depthwise with channel multiplier 2',
    inputs: [[1, 16, 6, 6], [32, 1, 3, 3], [32]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1, groups: 16 }),
  },
  {
    name: 'conv2d same padding even kernel',
    inputs: [
      [1, 2, 5, 6],
      [3, 2, 4, 2],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 'same' }),
  },
  // Scalar ops that are affine maps (x + c, x * c, c - x) run natively on plain data.
  { name: 'scalar add, mul, rsub (plain)', inputs: [[3, 5, 4]], f: (x) => ops.rsub(2, ops.mul(ops.add(x, 0.5), -3)) },
  // Matrix products (transposes appear in the backward passes and in linear).
  {
    name: 'matmul 2-D',
    inputs: [
      [5, 7],
      [7, 3],
    ],
    f: (a, b) => ops.matmul(a, b),
  },
  {
    name: 'matmul batched',
    inputs: [
      [3, 4, 5],
      [3, 5, 2],
    ],
    f: (a, b) => ops.matmul(a, b),
  },
  {
    name: 'matmul broadcast right',
    inputs: [
      [3, 4, 5],
      [5, 6],
    ],
    f: (a, b) => ops.matmul(a, b),
  },
  { name: 'linear + bias', inputs: [[6, 10], [4, 10], [4]], f: (x, w, b) => ops.linear(x, w, b) },
  {
    name: 'linear without bias, leading axes',
    inputs: [
      [2, 3, 17],
      [33, 17],
    ],
    f: (x, w) => ops.linear(x, w),
  },
  // Elementwise arithmetic (binary.ts): one-sided broadcasts are native, two-sided ones are not.
  {
    name: 'add, same shapes (residual sum)',
    inputs: [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    f: (a, b) => ops.add(a, b),
  },
  {
    name: 'sub, per-channel broadcast of the second operand',
    inputs: [
      [2, 3, 4, 5],
      [1, 3, 1, 1],
    ],
    f: (a, b) => ops.sub(a, b),
  },
  {
    name: 'mul, first operand broadcast (operands swapped)',
    inputs: [
      [3, 1, 1],
      [2, 3, 4, 5],
    ],
    f: (a, b) => ops.mul(a, b),
  },
  {
    name: 'div, lower-rank divisor',
    inputs: [
      [2, 3, 4],
      [3, 1],
    ],
    f: (a, b) => ops.div(a, ops.add(ops.mul(b, b), 0.5)),
  },
  {
    name: 'sub, both operands broadcast (forward on the reference kernel, backward reductions native)',
    inputs: [
      [3, 1],
      [1, 4],
    ],
    f: (a, b) => ops.sub(a, b),
  },
  {
    name: 'add of two blocked conv outputs',
    inputs: [
      [2, 3, 6, 6],
      [8, 3, 3, 3],
      [8, 3, 3, 3],
    ],
    f: (x, w1, w2) => ops.add(conv3(x, w1), conv3(x, w2)),
  },
  {
    name: 'add of a blocked conv output and a plain tensor',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
      [2, 16, 6, 6],
    ],
    f: (x, w, y) => ops.add(y, conv3(x, w)),
  },
  {
    name: 'sub of a plain tensor and a blocked conv output',
    inputs: [
      [2, 3, 6, 6],
      [8, 3, 3, 3],
      [2, 8, 6, 6],
    ],
    f: (x, w, y) => ops.sub(y, conv3(x, w)),
  },
  {
    name: 'mul of a blocked conv output by a per-channel scale',
    inputs: [
      [2, 3, 5, 5],
      [12, 3, 3, 3],
      [1, 12, 1, 1],
    ],
    f: (x, w, s) => ops.mul(conv3(x, w), s),
  },
  // Activations.
  { name: 'relu', inputs: [[3, 5, 4]], f: (x) => ops.relu(x) },
  { name: 'sigmoid', inputs: [[3, 5, 4]], f: (x) => ops.mul(ops.sigmoid(x), 3) },
  { name: 'tanh', inputs: [[2, 7]], f: (x) => ops.tanh(ops.mul(x, 2)) },
  {
    name: 'relu and sigmoid of blocked conv outputs (residual-style sum in backward)',
    inputs: [
      [2, 3, 6, 6],
      [12, 3, 3, 3],
    ],
    f: (x, w) => {
      const h = conv3(x, w);
      return ops.add(ops.relu(h), ops.sigmoid(h));
    },
  },
  {
    name: 'tanh of a plain input whose gradient comes back blocked from a conv',
    inputs: [
      [2, 8, 6, 6],
      [16, 8, 3, 3],
    ],
    f: (x, w) => conv3(ops.tanh(x), w),
  },
  // Max pooling (random values: no ties).
  {
    name: 'maxPool2d 3x3/2 ceil mode, odd sizes',
    inputs: [[2, 3, 9, 8]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, ceilMode: true }),
  },
  {
    name: 'maxPool2d 3x3/2 pad 1 (ResNet stem)',
    inputs: [[2, 2, 11, 11]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }),
  },
  {
    name: 'maxPool2d 2x2/2 floor drops the last row',
    inputs: [[1, 3, 7, 6]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 2 }),
  },
  {
    name: 'maxPool2d 3x3/1 pad 1 ceil (GoogLeNet branch)',
    inputs: [[1, 4, 5, 5]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1, ceilMode: true }),
  },
  {
    name: 'maxPool2d dilation 2 (ref fallback)',
    refFallback: true,
    inputs: [[1, 2, 9, 9]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 2, dilation: 2 }),
  },
  {
    name: 'maxPool2d 3x3/2 pad 1 of a blocked conv output (12 channels)',
    inputs: [
      [2, 3, 9, 9],
      [12, 3, 3, 3],
    ],
    f: (x, w) => ops.maxPool2d(conv3(x, w), { kernelSize: 3, stride: 2, padding: 1 }),
  },
  // Average pooling.
  {
    name: 'avgPool2d pad 1 stride 2 count_include_pad',
    inputs: [[2, 3, 7, 8]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: true }),
  },
  {
    name: 'avgPool2d pad 1 stride 2 exclude pad',
    inputs: [[2, 3, 7, 8]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }),
  },
  {
    name: 'avgPool2d ceil mode exclude pad',
    inputs: [[1, 2, 8, 7]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
  },
  {
    name: 'avgPool2d ceil mode include pad (ref fallback)',
    refFallback: true,
    inputs: [[1, 2, 8, 7]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
  },
  {
    name: 'avgPool2d 2x2/2 (DenseNet transition)',
    inputs: [[2, 4, 6, 6]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 2, stride: 2 }),
  },
  {
    name: 'avgPool2d 2x2/2 of a blocked conv output',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.avgPool2d(conv3(x, w), { kernelSize: 2, stride: 2 }),
  },
  {
    name: 'avgPool2d divisorOverride (ref fallback)',
    refFallback: true,
    inputs: [[1, 2, 6, 6]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 2, divisorOverride: 3 }),
  },
  {
    name: 'adaptiveAvgPool2d (ref fallback)',
    refFallback: true,
    inputs: [[2, 3, 7, 5]],
    f: (x) => ops.adaptiveAvgPool2d(x, [3, 2]),
  },
  {
    name: 'adaptiveAvgPool2d to 1x1 of a blocked conv output',
    inputs: [
      [2, 3, 7, 7],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.adaptiveAvgPool2d(conv3(x, w), 1),
  },
  {
    name: 'adaptiveAvgPool2d evenly dividing (8x6 to 4x3)',
    inputs: [[2, 3, 8, 6]],
    f: (x) => ops.adaptiveAvgPool2d(x, [4, 3]),
  },
  // Normalisation.
  {
    name: 'batchNorm train, affine',
    inputs: [[4, 3, 5, 5], [3], [3]],
    f: (x, w, b) => ops.batchNorm(x, { weight: w, bias: b, training: true }),
  },
  {
    name: 'batchNorm train with running stats, no affine, [N, C]',
    inputs: [[6, 4]],
    f: (x) =>
      ops.batchNorm(x, {
        runningMean: constant(x, [0, 0.1, 0.2, 0.3]),
        runningVar: constant(x, [1, 2, 0.5, 1]),
        training: true,
      }),
  },
  {
    name: 'batchNorm eval, affine',
    inputs: [[2, 3, 4, 4], [3], [3]],
    f: (x, w, b) =>
      ops.batchNorm(x, {
        weight: w,
        bias: b,
        runningMean: constant(x, [0.1, -0.2, 0.3]),
        runningVar: constant(x, [0.5, 1.5, 2]),
        training: false,
        eps: 1e-3,
      }),
  },
  {
    name: 'batchNorm train of a blocked conv output (12 channels)',
    inputs: [[2, 3, 5, 5], [12, 3, 3, 3], [12], [12]],
    f: (x, w, g, b) => ops.batchNorm(conv3(x, w), { weight: g, bias: b, training: true }),
  },
  {
    name: 'batchNorm eval of a blocked conv output, weight only',
    inputs: [[2, 3, 5, 5], [12, 3, 3, 3], [12]],
    f: (x, w, g) =>
      ops.batchNorm(conv3(x, w), {
        weight: g,
        runningMean: ramp(x, 12, -0.3, 0.05),
        runningVar: ramp(x, 12, 0.5, 0.1),
        training: false,
      }),
  },
  {
    // The fused ReLU is inference only: the forward is compared, the gradient path is a zero product.
    name: 'batchNorm eval + fused relu (inference) of a blocked conv output',
    inputs: [
      [2, 3, 5, 5],
      [8, 3, 3, 3],
    ],
    f: (x, w) => {
      const c = 8;
      const y = noGrad(() =>
        ops.batchNorm(conv3(x, w), {
          weight: ramp(x, c, 0.5, 0.2),
          bias: ramp(x, c, -0.2, 0.05),
          runningMean: ramp(x, c, 0.1, -0.05),
          runningVar: ramp(x, c, 0.4, 0.3),
          training: false,
          relu: true,
        }),
      );
      return ops.add(y, ops.mul(conv3(x, w), 0));
    },
  },
  {
    name: 'batchNorm train + fused relu of a blocked conv output (12 channels)',
    inputs: [[2, 3, 5, 5], [12, 3, 3, 3], [12], [12]],
    f: (x, w, g, b) => ops.batchNorm(conv3(x, w), { weight: g, bias: b, training: true, relu: true }),
  },
  {
    name: 'batchNorm train + fused relu, plain [N, C, L], no affine',
    inputs: [[4, 3, 5]],
    f: (x) => ops.batchNorm(x, { training: true, relu: true }),
  },
  {
    name: 'batchNorm eval + relu with gradients (two ops)',
    inputs: [[2, 3, 4, 4], [3], [3]],
    f: (x, w, b) =>
      ops.batchNorm(x, {
        weight: w,
        bias: b,
        runningMean: constant(x, [0.1, -0.2, 0.3]),
        runningVar: constant(x, [0.5, 1.5, 2]),
        training: false,
        relu: true,
      }),
  },
  {
    name: 'batchNorm eval + fused relu, plain [N, C, L]',
    inputs: [[3, 4, 5]],
    f: (x) =>
      ops.add(
        noGrad(() =>
          ops.batchNorm(x, {
            runningMean: ramp(x, 4, 0, 0.1),
            runningVar: ramp(x, 4, 1, 0.5),
            training: false,
            relu: true,
          }),
        ),
        ops.mul(x, 0),
      ),
  },
  // Large alpha so the normaliser differs from k by a visible amount (the paper's 1e-4 barely does).
  {
    name: 'localResponseNorm size 5 (AlexNet paper form)',
    inputs: [[2, 7, 3, 3]],
    f: (x) => ops.localResponseNorm(x, { size: 5, alpha: 0.5, beta: 0.75, k: 2 }),
  },
  {
    name: 'localResponseNorm size 3 more channels than window, k 1',
    inputs: [[1, 6, 2, 4]],
    f: (x) => ops.localResponseNorm(ops.mul(x, 3), { size: 3, alpha: 1, beta: 0.5, k: 1 }),
  },
  {
    name: 'localResponseNorm size 5 of a blocked conv output',
    inputs: [
      [1, 3, 4, 4],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.localResponseNorm(conv3(x, w), { size: 5, alpha: 0.5, beta: 0.75, k: 2 }),
  },
  {
    name: 'localResponseNorm size 4 (ref fallback)',
    refFallback: true,
    inputs: [[2, 7, 3, 3]],
    f: (x) => ops.localResponseNorm(x, { size: 4, alpha: 0.5, beta: 0.75, k: 2 }),
  },
  // Concatenation: along channels of blocked conv outputs (DenseNet, Inception), and plain along other axes.
  {
    name: 'concat along channels of blocked conv outputs (8, 16, 24 channels)',
    inputs: [
      [2, 3, 5, 5],
      [8, 3, 3, 3],
      [16, 3, 3, 3],
      [24, 3, 3, 3],
    ],
    f: (x, w1, w2, w3) => ops.concat([conv3(x, w1), conv3(x, w2), conv3(x, w3)], 1),
  },
  {
    name: 'concat along channels, counts not a multiple of 8 (12, 5, 8)',
    inputs: [
      [2, 3, 5, 5],
      [12, 3, 3, 3],
      [5, 3, 3, 3],
      [8, 3, 3, 3],
    ],
    f: (x, w1, w2, w3) => ops.concat([conv3(x, w1), conv3(x, w2), conv3(x, w3)], 1),
  },
  {
    name: 'concat along channels of a blocked conv output and a plain tensor',
    inputs: [
      [2, 3, 5, 5],
      [16, 3, 3, 3],
      [2, 4, 5, 5],
    ],
    f: (x, w, y) => ops.concat([conv3(x, w), y, x], 1),
  },
  {
    name: 'concat plain along the last axis',
    inputs: [
      [2, 3, 4],
      [2, 3, 2],
    ],
    f: (a, b) => ops.concat([a, b], 2),
  },
  {
    name: 'concat plain along axis 0 of 2-D',
    inputs: [
      [2, 5],
      [3, 5],
      [1, 5],
    ],
    f: (a, b, c) => ops.concat([a, b, c], 0),
  },
  // Slice and pad: channel windows by whole blocks keep a blocked layout, others run on plain data.
  {
    name: 'pad channels of a blocked conv output 16 -> 32 (ResNet option A)',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.pad(ops.avgPool2d(conv3(x, w), { kernelSize: 1, stride: 2 }), [0, 0, 0, 0, 0, 16]),
  },
  {
    name: 'pad channels of a blocked conv output by 3 on both sides (plain path)',
    inputs: [
      [1, 3, 4, 5],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.pad(conv3(x, w), [0, 0, 0, 0, 3, 3]),
  },
  {
    name: 'pad the last two axes of a plain tensor with 1.5',
    inputs: [[2, 3, 4, 5]],
    f: (x) => ops.pad(x, [1, 2, 0, 3], 1.5),
  },
  { name: 'pad all axes of a 3-D tensor', inputs: [[2, 3, 4]], f: (x) => ops.pad(x, [1, 0, 2, 1, 1, 1]) },
  {
    name: 'slice channels 8..24 of a blocked conv output',
    inputs: [
      [2, 3, 5, 5],
      [32, 3, 3, 3],
    ],
    f: (x, w) => ops.slice(conv3(x, w), 1, 8, 24),
  },
  {
    name: 'slice channels 3..10 of a blocked conv output (plain path)',
    inputs: [
      [1, 3, 4, 4],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.slice(conv3(x, w), 1, 3, 10),
  },
  { name: 'slice the middle of the last axis', inputs: [[3, 4, 9]], f: (x) => ops.slice(x, -1, 2, 7) },
  { name: 'slice axis 0 of a 2-D tensor', inputs: [[5, 6]], f: (x) => ops.slice(x, 0, 1, 4) },
  // Reductions and the loss: queued loops on plain data.
  { name: 'sum over axes 0 and 2 of a 3-D tensor', inputs: [[3, 4, 5]], f: (x) => ops.sum(x, [0, 2]) },
  { name: 'mean over the last axis, kept', inputs: [[2, 3, 7]], f: (x) => ops.mean(x, -1, { keepDims: true }) },
  {
    name: 'sum over batch and space of a blocked conv output',
    inputs: [
      [2, 3, 5, 5],
      [12, 3, 3, 3],
    ],
    f: (x, w) => ops.sum(conv3(x, w), [0, 2, 3]),
  },
  { name: 'max over axis 1', inputs: [[4, 6, 3]], f: (x) => ops.max(x, 1) },
  { name: 'min over everything', inputs: [[3, 5]], f: (x) => ops.min(x) },
  {
    name: 'crossEntropy mean',
    inputs: [[5, 7]],
    f: (x) => ops.crossEntropy(ops.mul(x, 3), Int32Array.of(0, 6, 3, 3, 1)),
  },
  {
    name: 'crossEntropy sum with label smoothing 0.1',
    inputs: [[4, 3]],
    f: (x) => ops.crossEntropy(x, Int32Array.of(2, 0, 1, 2), { reduction: 'sum', labelSmoothing: 0.1 }),
  },
  {
    name: 'nllLoss none',
    inputs: [[3, 4]],
    f: (x) => ops.nllLoss(ops.logSoftmax(x), Int32Array.of(3, 0, 1), { reduction: 'none' }),
  },
  // Softmax.
  { name: 'softmax over axis 1 of a 3-D tensor', inputs: [[3, 5, 4]], f: (x) => ops.softmax(ops.mul(x, 4), 1) },
  { name: 'logSoftmax over the last axis', inputs: [[4, 10]], f: (x) => ops.logSoftmax(ops.mul(x, 4)) },
  {
    name: 'softmax over the channels of a blocked conv output',
    inputs: [
      [2, 3, 4, 4],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.softmax(conv3(x, w), 1),
  },
];
