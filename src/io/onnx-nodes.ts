/**
 * What each imported ONNX op computes, as convkit ops: one runner per op type in
 * ONNX_IMPORT_OPS (io/onnx-graph.ts). Float values are convkit tensors, so the imported graph runs
 * on any backend and has gradients; integer values (Shape, Gather, Unsqueeze and Concat chains
 * that compute a Reshape's target, pads, slice bounds) are plain arrays evaluated on the fly.
 * A runner throws with the detail; the graph module adds the file and the node.
 */
import { normalizeAxis, sizeOf } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { relu, sigmoid, tanh } from '../ops/activation.js';
import { adaptiveAvgPool2d } from '../ops/adaptive-avg-pool2d.js';
import { add, div, mul, sub } from '../ops/arithmetic.js';
import { avgPool2d } from '../ops/avg-pool2d.js';
import { batchNorm } from '../ops/batch-norm.js';
import { conv2d } from '../ops/conv2d.js';
import { dropout } from '../ops/dropout.js';
import { concat, pad, permute, reshape, slice, transpose, unsqueeze } from '../ops/layout.js';
import { localResponseNorm } from '../ops/local-response-norm.js';
import { linear, matmul } from '../ops/matmul.js';
import { maxPool2d } from '../ops/max-pool2d.js';
import { windowCount } from '../ops/window.js';
import type { OnnxNode } from './onnx-proto.js';
import type { NodeAttributes } from './onnx-values.js';

/** An integer tensor of shape arithmetic. */
export interface IntValue {
  kind: 'int';
  dims: number[];
  data: number[];
}

export type RuntimeValue = Tensor | IntValue;

export const isInt = (v: RuntimeValue | null): v is IntValue => v !== null && 'kind' in v && v.kind === 'int';

export interface NodeCall {
  node: OnnxNode;
  attrs: NodeAttributes;
  opset: number;
  /** The module's training flag: batch statistics and dropout on. */
  training: boolean;
  inputs: (RuntimeValue | null)[];
  /** The values of inputs that are initializers or Constant outputs, read on the host (a meta tensor has none). */
  constants: (Float32Array | null)[];
}

type Runner = (c: NodeCall) => RuntimeValue;

function tensorAt(c: NodeCall, i: number): Tensor {
  const v = c.inputs[i];
  if (v === null || v === undefined) throw new Error(`input ${i} is missing`);
  if (isInt(v))
    throw new Error(`input ${i} ('${c.node.input[i]}') is an integer tensor where a float tensor is needed`);
  return v;
}

/** A float scalar input (Dropout's ratio, Pad's value), from its constant values when it has them. */
function scalarAt(c: NodeCall, i: number): number {
  const known = c.constants[i];
  if (known) return known[0];
  return tensorAt(c, i).toArray()[0];
}

const optionalTensor = (c: NodeCall, i: number): Tensor | null => (c.inputs[i] ? tensorAt(c, i) : null);

function intsAt(c: NodeCall, i: number): number[] {
  const v = c.inputs[i];
  if (!isInt(v)) throw new Error(`input ${i} ('${c.node.input[i]}') must be an int64 tensor of constants or shapes`);
  return v.data;
}

const ints = (dims: number[], data: number[]): IntValue => ({ kind: 'int', dims, data });

/** Refuses auto_pad other than NOTSET and VALID (the files convkit and torch write use explicit pads). */
function explicitPads(c: NodeCall): number[] {
  const auto = c.attrs.string('auto_pad', 'NOTSET');
  if (auto !== 'NOTSET' && auto !== 'VALID') throw new Error(`auto_pad ${auto} is not supported; write explicit pads`);
  return auto === 'VALID' ? [0, 0, 0, 0] : c.attrs.ints('pads', [0, 0, 0, 0]);
}

function conv(c: NodeCall): Tensor {
  const x = tensorAt(c, 0);
  const w = tensorAt(c, 1);
  if (w.ndim !== 4)
    throw new Error(
      `weight '${c.node.input[1]}' has shape [${w.shape.join(', ')}]; convkit imports 2-D convolutions (4-D weights)`,
    );
  const kernel = c.attrs.ints('kernel_shape', w.shape.slice(2));
  if (kernel[0] !== w.shape[2] || kernel[1] !== w.shape[3])
    throw new Error(
      `kernel_shape [${kernel.join(', ')}] disagrees with weight '${c.node.input[1]}' of shape [${w.shape.join(', ')}]`,
    );
  const [top, left, bottom, right] = explicitPads(c);
  return conv2d(x, w, optionalTensor(c, 2), {
    stride: c.attrs.ints('strides', [1, 1]) as [number, number],
    padding: [top, bottom, left, right],
    dilation: c.attrs.ints('dilations', [1, 1]) as [number, number],
    groups: c.attrs.int('group', 1),
  });
}

/**
 * Max and average pooling. Symmetric pads within half the kernel map directly (ceil_mode as
 * PyTorch's ceilMode); end pads larger than the start ones, as convkit's exporter writes for
 * ceil-mode windows, map back to ceil mode when the window counts agree; otherwise the padding is
 * made explicit (with -infinity for max pooling, zeros when average pooling counts the padding).
 */
function pool(c: NodeCall, kind: 'max' | 'avg'): Tensor {
  const x = tensorAt(c, 0);
  if (x.ndim !== 4)
    throw new Error(`input has shape [${x.shape.join(', ')}]; convkit imports 2-D pooling of NCHW inputs`);
  if (c.node.output.length > 1 && c.node.output[1]) throw new Error('the indices output of MaxPool is not supported');
  const kernel = c.attrs.ints('kernel_shape', []);
  if (kernel.length !== 2) throw new Error(`kernel_shape [${kernel.join(', ')}] is not 2-D`);
  const stride = c.attrs.ints('strides', [1, 1]);
  const dilation = c.attrs.ints('dilations', [1, 1]);
  const ceilMode = c.attrs.int('ceil_mode', 0) === 1;
  const include = kind === 'avg' && c.attrs.int('count_include_pad', 0) === 1;
  const [top, left, bottom, right] = explicitPads(c);
  const run = (input: Tensor, padding: [number, number], ceil: boolean): Tensor => {
    const opts = {
      kernelSize: kernel as [number, number],
      stride: stride as [number, number],
      padding,
      ceilMode: ceil,
    };
    if (kind === 'max') return maxPool2d(input, { ...opts, dilation: dilation as [number, number] });
    if (dilation.some((d) => d !== 1)) throw new Error('dilated average pooling is not supported');
    return avgPool2d(input, { ...opts, countIncludePad: include });
  };
  const half = (p: number, k: number): boolean => p <= Math.floor(k / 2);
  if (top === bottom && left === right && half(top, kernel[0]) && half(left, kernel[1]))
    return run(x, [top, left], ceilMode);
  if (!include && top <= bottom && left <= right && half(top, kernel[0]) && half(left, kernel[1])) {
    const counts = (before: number, after: number, axis: 0 | 1, ceil: boolean): number =>
      windowCount({
        size: x.shape[2 + axis],
        kernel: kernel[axis],
        stride: stride[axis],
        padBefore: before,
        padAfter: after,
        dilation: dilation[axis],
        ceilMode: ceil,
      });
    const same = (axis: 0 | 1, before: number, after: number): boolean =>
      counts(before, after, axis, ceilMode) === counts(before, before, axis, true);
    if (same(0, top, bottom) && same(1, left, right)) return run(x, [top, left], true);
  }
  if (kind === 'avg' && !include)
    throw new Error(
      `pads [${[top, left, bottom, right].join(', ')}] with count_include_pad 0 have no exact convkit form`,
    );
  const padded = pad(x, [left, right, top, bottom], kind === 'max' ? Number.NEGATIVE_INFINITY : 0);
  return run(padded, [0, 0], ceilMode);
}

function batchNormalization(c: NodeCall): Tensor {
  if (c.attrs.int('training_mode', 0) === 1) throw new Error('training_mode 1 is not supported (export in eval mode)');
  if (c.node.output.slice(1).some((o) => o !== '')) throw new Error('running-statistics outputs are not supported');
  return batchNorm(tensorAt(c, 0), {
    weight: tensorAt(c, 1),
    bias: tensorAt(c, 2),
    runningMean: tensorAt(c, 3),
    runningVar: tensorAt(c, 4),
    training: c.training,
    // ONNX keeps `momentum` of the old value, PyTorch mixes in `momentum` of the new one.
    momentum: 1 - c.attrs.float('momentum', 0.9),
    eps: c.attrs.float('epsilon', 1e-5),
  });
}

function gemm(c: NodeCall): Tensor {
  const a = tensorAt(c, 0);
  const b = tensorAt(c, 1);
  const bias = optionalTensor(c, 2);
  const alpha = c.attrs.float('alpha', 1);
  const beta = c.attrs.float('beta', 1);
  const transA = c.attrs.int('transA', 0) === 1;
  const transB = c.attrs.int('transB', 0) === 1;
  if (a.ndim !== 2 || b.ndim !== 2) throw new Error(`Gemm needs 2-D inputs, got [${a.shape}] and [${b.shape}]`);
  const linearBias = bias === null || (bias.ndim === 1 && bias.shape[0] === b.shape[0]);
  if (!transA && transB && alpha === 1 && beta === 1 && linearBias) return linear(a, b, bias);
  let y = matmul(transA ? transpose(a) : a, transB ? transpose(b) : b);
  if (alpha !== 1) y = mul(y, alpha);
  return bias ? add(y, beta === 1 ? bias : mul(bias, beta)) : y;
}

/** The target of Reshape: 0 copies the input's dim (unless allowzero), -1 is inferred. */
function reshapeTarget(from: readonly number[], to: readonly number[], allowZero: boolean): number[] {
  const dims = to.map((d, i) => (d === 0 && !allowZero ? from[i] : d));
  if (dims.includes(-1)) {
    const known = sizeOf(dims.filter((d) => d !== -1));
    dims[dims.indexOf(-1)] = known === 0 ? 0 : sizeOf(from) / known;
  }
  return dims;
}

function flattenTo2d(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('Flatten', axis, x.ndim + 1);
  return reshape(x, [sizeOf(x.shape.slice(0, a)), sizeOf(x.shape.slice(a))]);
}

function concatValues(c: NodeCall): RuntimeValue {
  const axis = c.attrs.int('axis', 0);
  const present = c.inputs.filter((v): v is RuntimeValue => v !== null);
  if (present.every(isInt)) {
    if (present.some((v) => v.dims.length !== 1)) throw new Error('integer Concat of tensors other than 1-D');
    const data = present.flatMap((v) => v.data);
    return ints([data.length], data);
  }
  return concat(
    present.map((_, i) => tensorAt(c, i)),
    axis,
  );
}

/** Gather along an axis: of shape values (a Shape's output), or of a float tensor with constant indices (x[:, 0]). */
function gather(c: NodeCall): RuntimeValue {
  const data = c.inputs[0];
  const indices = c.inputs[1];
  if (!isInt(indices)) throw new Error('Gather indices must be integers');
  const axis = c.attrs.int('axis', 0);
  const size = isInt(data) ? data.dims[0] : tensorAt(c, 0).shape[normalizeAxis('Gather', axis, tensorAt(c, 0).ndim)];
  const index = (i: number): number => {
    const j = i < 0 ? i + size : i;
    if (j < 0 || j >= size) throw new Error(`index ${i} is out of range for ${size} values`);
    return j;
  };
  if (isInt(data)) {
    if (data.dims.length !== 1 || axis !== 0) throw new Error('integer Gather other than along axis 0 of a 1-D tensor');
    return ints(
      [...indices.dims],
      indices.data.map((i) => data.data[index(i)]),
    );
  }
  const x = tensorAt(c, 0);
  const a = normalizeAxis('Gather', axis, x.ndim);
  if (indices.dims.length > 1) throw new Error('Gather of a float tensor with indices of rank above 1');
  const parts = indices.data.map((i) => slice(x, a, index(i), index(i) + 1));
  if (indices.dims.length === 1) return parts.length === 1 ? parts[0] : concat(parts, a);
  return reshape(parts[0], [...x.shape.slice(0, a), ...x.shape.slice(a + 1)]);
}

function unsqueezeValue(c: NodeCall): RuntimeValue {
  const axes = c.opset >= 13 ? intsAt(c, 1) : c.attrs.ints('axes', []);
  const v = c.inputs[0];
  if (isInt(v)) {
    const dims = [...v.dims];
    for (const a of [...axes].sort((p, q) => p - q)) dims.splice(a < 0 ? a + dims.length + 1 : a, 0, 1);
    return ints(dims, v.data);
  }
  let x = tensorAt(c, 0);
  for (const a of [...axes].sort((p, q) => p - q)) x = unsqueeze(x, a);
  return x;
}

function sliceValue(c: NodeCall): Tensor {
  let x = tensorAt(c, 0);
  const starts = intsAt(c, 1);
  const ends = intsAt(c, 2);
  const axes = c.inputs[3] ? intsAt(c, 3) : starts.map((_, i) => i);
  const steps = c.inputs[4] ? intsAt(c, 4) : starts.map(() => 1);
  if (steps.some((s) => s !== 1)) throw new Error(`steps [${steps.join(', ')}] other than 1 are not supported`);
  axes.forEach((axis, i) => {
    x = slice(x, axis, starts[i], ends[i]);
  });
  return x;
}

function padValue(c: NodeCall): Tensor {
  const mode = c.attrs.string('mode', 'constant');
  if (mode !== 'constant') throw new Error(`mode '${mode}' is not supported (constant only)`);
  const x = tensorAt(c, 0);
  const pads = intsAt(c, 1);
  if (c.inputs[3]) throw new Error('the axes input of Pad is not supported');
  if (pads.length !== 2 * x.ndim || pads.some((p) => p < 0))
    throw new Error(`pads [${pads.join(', ')}] must be ${2 * x.ndim} non-negative numbers`);
  const value = c.inputs[2] ? scalarAt(c, 2) : 0;
  // ONNX: all begins, then all ends; convkit (PyTorch): [begin, end] pairs from the last axis.
  const pairs: number[] = [];
  for (let a = x.ndim - 1; a >= 0; a--) pairs.push(pads[a], pads[a + x.ndim]);
  return pad(x, pairs, value);
}

function binary(op: (a: Tensor, b: Tensor) => Tensor): Runner {
  return (c) => op(tensorAt(c, 0), tensorAt(c, 1));
}

export const RUNNERS: Readonly<Record<string, Runner>> = {
  Add: binary(add),
  AveragePool: (c) => pool(c, 'avg'),
  BatchNormalization: batchNormalization,
  Concat: concatValues,
  Conv: conv,
  Div: binary(div),
  Dropout: (c) => {
    if (c.node.output[1]) throw new Error('the mask output of Dropout is not supported');
    const ratio = c.opset >= 12 ? (c.inputs[1] ? scalarAt(c, 1) : 0.5) : c.attrs.float('ratio', 0.5);
    return dropout(tensorAt(c, 0), { p: ratio, training: c.training });
  },
  Flatten: (c) => flattenTo2d(tensorAt(c, 0), c.attrs.int('axis', 1)),
  Gather: gather,
  Gemm: gemm,
  GlobalAveragePool: (c) => adaptiveAvgPool2d(tensorAt(c, 0), 1),
  Identity: (c) => c.inputs[0] as RuntimeValue,
  LRN: (c) => {
    const size = c.attrs.int('size', 0);
    // PyTorch and ONNX centre an even window differently (see the export section of docs/formats.md).
    if (size % 2 === 0) throw new Error(`an even size (${size}) centres the window differently from convkit's LRN`);
    const opts = {
      size,
      alpha: c.attrs.float('alpha', 1e-4),
      beta: c.attrs.float('beta', 0.75),
      k: c.attrs.float('bias', 1),
    };
    return localResponseNorm(tensorAt(c, 0), opts);
  },
  MatMul: binary(matmul),
  MaxPool: (c) => pool(c, 'max'),
  Mul: binary(mul),
  Pad: padValue,
  Relu: (c) => relu(tensorAt(c, 0)),
  Reshape: (c) => {
    const x = tensorAt(c, 0);
    return reshape(x, reshapeTarget(x.shape, intsAt(c, 1), c.attrs.int('allowzero', 0) === 1));
  },
  Shape: (c) => {
    const v = c.inputs[0];
    const shape = isInt(v) ? v.dims : tensorAt(c, 0).shape;
    const rank = shape.length;
    const at = (i: number): number => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
    const data = shape.slice(at(c.attrs.int('start', 0)), at(c.attrs.int('end', rank)));
    return ints([data.length], [...data]);
  },
  Sigmoid: (c) => sigmoid(tensorAt(c, 0)),
  Slice: sliceValue,
  Sub: binary(sub),
  Tanh: (c) => tanh(tensorAt(c, 0)),
  Transpose: (c) => {
    const x = tensorAt(c, 0);
    return permute(
      x,
      c.attrs.ints(
        'perm',
        x.shape.map((_, i) => x.ndim - 1 - i),
      ),
    );
  },
  Unsqueeze: unsqueezeValue,
};
