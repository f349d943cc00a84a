/** 2-D convolution (cross-correlation, as in PyTorch): geometry, checks, cost and gradient. */
import type { Conv2dGeometry } from '../backend/backend.js';
import { recordSaved } from '../core/autograd.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { isGradEnabled } from '../core/grad-mode.js';
import { formatShape, pair, type IntOrPair, type Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { reshape } from './layout.js';
import { common, commonRequired, willRecord, windowOf, wrap } from './util.js';
import { dilatedKernel, samePadding, windowCount } from './window.js';

export interface Conv2dOptions {
  /** Default 1. */
  stride?: IntOrPair;
  /**
   * Default 0. A number or [h, w] pads both sides alike (PyTorch); [top, bottom, left, right] pads
   * asymmetrically; 'same' (stride 1 only) keeps the size, odd extra padding going bottom/right as
   * in PyTorch; 'valid' is no padding.
   */
  padding?: number | readonly [number, number] | readonly [number, number, number, number] | 'same' | 'valid';
  /** Default 1. */
  dilation?: IntOrPair;
  /** Default 1. Input and output channels are split into this many independent groups. */
  groups?: number;
}

const OP = 'conv2d';

const isCount = (v: number, min: number): boolean => Number.isInteger(v) && v >= min;
const show = (v: unknown): string =>
  typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? `[${v.join(', ')}]` : String(v);

function positivePair(name: string, value: IntOrPair | undefined): [number, number] {
  const p = pair(value ?? 1);
  if (!p.every((v) => isCount(v, 1)))
    throw new ArgumentError(OP, `${name} must be positive integers, got ${show(value)}`);
  return p;
}

/** [top, bottom, left, right] from any accepted padding form. */
function resolvePadding(
  opts: Conv2dOptions,
  kernel: [number, number],
  dilation: [number, number],
  stride: [number, number],
): number[] {
  const { padding = 0 } = opts;
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) {
      throw new ArgumentError(OP, `padding 'same' needs stride 1 (as in PyTorch), got stride ${show(stride)}`);
    }
    return [...samePadding(kernel[0], dilation[0]), ...samePadding(kernel[1], dilation[1])];
  }
  const values: readonly number[] = typeof padding === 'number' ? [padding] : Array.isArray(padding) ? padding : [];
  if (![1, 2, 4].includes(values.length) || !values.every((v) => isCount(v, 0))) {
    throw new ArgumentError(
      OP,
      `padding must be a non-negative integer, [h, w], [top, bottom, left, right], 'same' or 'valid', got ${show(padding)}`,
    );
  }
  if (values.length === 1) return [values[0], values[0], values[0], values[0]];
  if (values.length === 2) return [values[0], values[0], values[1], values[1]];
  return [...values];
}

/**
 * Resolves and checks a convolution of an NCHW (or CHW) input with an OIHW weight. Every check of
 * conv2d lives here, so layers and analysis that only need shapes get the same errors.
 */
export function conv2dGeometry(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}): Conv2dGeometry {
  if (xShape.length !== 4 && xShape.length !== 3) {
    throw new ShapeError(
      OP,
      `input must be 4-D [batch, channels, height, width] (or 3-D without batch), got ${formatShape(xShape)}`,
    );
  }
  if (wShape.length !== 4) {
    throw new ShapeError(
      OP,
      `weight must be 4-D [outChannels, inChannels / groups, kernelH, kernelW], got ${formatShape(wShape)}`,
    );
  }
  const [batch, inChannels, inH, inW] = xShape.length === 4 ? xShape : [1, ...xShape];
  const [outChannels, perGroup, kernelH, kernelW] = wShape;
  const groups = opts.groups ?? 1;
  if (!isCount(groups, 1)) throw new ArgumentError(OP, `groups must be a positive integer, got ${show(groups)}`);
  if (outChannels % groups !== 0) {
    throw new ShapeError(OP, `weight has ${outChannels} output channels, which does not divide by ${groups} groups`);
  }
  if (inChannels % groups !== 0) {
    throw new ShapeError(OP, `input has ${inChannels} channels, which does not divide by ${groups} groups`);
  }
  if (inChannels !== perGroup * groups) {
    throw new ShapeError(
      OP,
      `input has ${inChannels} channels, weight expects ${perGroup * groups} (= ${perGroup} per group x ${groups} groups)`,
    );
  }
  if (kernelH < 1 || kernelW < 1)
    throw new ShapeError(OP, `kernel must be at least 1x1, got ${kernelH}x${kernelW} (weight ${formatShape(wShape)})`);
  const stride = positivePair('stride', opts.stride);
  const dilation = positivePair('dilation', opts.dilation);
  const [padTop, padBottom, padLeft, padRight] = resolvePadding(opts, [kernelH, kernelW], dilation, stride);
  const paddedH = inH + padTop + padBottom;
  const paddedW = inW + padLeft + padRight;
  const spanH = dilatedKernel(kernelH, dilation[0]);
  const spanW = dilatedKernel(kernelW, dilation[1]);
  // With the kernel inside the padded input there is always at least one output position.
  if (spanH > paddedH || spanW > paddedW) {
    throw new ShapeError(
      OP,
      `kernel ${kernelH}x${kernelW} (dilated ${spanH}x${spanW}) is larger than the padded input ${paddedH}x${paddedW}`,
    );
  }
  const outH = windowCount({
    size: inH,
    kernel: kernelH,
    stride: stride[0],
    padBefore: padTop,
    padAfter: padBottom,
    dilation: dilation[0],
  });
  const outW = windowCount({
    size: inW,
    kernel: kernelW,
    stride: stride[1],
    padBefore: padLeft,
    padAfter: padRight,
    dilation: dilation[1],
  });
  return {
    batch,
    inChannels,
    inH,
    inW,
    outChannels,
    kernelH,
    kernelW,
    strideH: stride[0],
    strideW: stride[1],
    padTop,
    padBottom,
    padLeft,
    padRight,
    dilationH: dilation[0],
    dilationW: dilation[1],
    groups,
    outH,
    outW,
  };
}

/** Multiply-accumulates of the forward pass, bias not counted (torchvision/fvcore/ptflops "MACs"). */
export function conv2dMacs(g: Conv2dGeometry): number {
  return g.batch * g.outChannels * g.outH * g.outW * (g.inChannels / g.groups) * g.kernelH * g.kernelW;
}

/** Post-ops fused into an inference convolution: y = relu(conv(x) + bias + addend). */
export interface Conv2dPostOps {
  /** Added to the output (same shape), e.g. a residual block's shortcut. */
  addend?: Tensor | null;
  /** Default false. */
  relu?: boolean;
}

/**
 * Convolution of x [N, C, H, W] (or [C, H, W]) with weight [O, C / groups, kH, kW] plus an
 * optional bias [O], as torch.nn.functional.conv2d. `post` fuses a sum and a ReLU into the same
 * kernel; it has no gradient, so it is only accepted when no input needs one (inference).
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  opts: Conv2dOptions = {},
  post: Conv2dPostOps = {},
): Tensor {
  const { addend = null, relu = false } = post;
  commonRequired(OP, x, weight);
  const backend = common(OP, x, weight, bias, addend);
  const g = conv2dGeometry(x.shape, weight.shape, opts);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== g.outChannels)) {
    throw new ShapeError(
      OP,
      `bias must have shape [${g.outChannels}] (one per output channel), got ${formatShape(bias.shape)}`,
    );
  }
  if (x.ndim === 3)
    return reshape(conv2d(reshape(x, [1, ...x.shape]), weight, bias, opts, post), [g.outChannels, g.outH, g.outW]);
  const outShape = [g.batch, g.outChannels, g.outH, g.outW];
  if (addend || relu) checkPostOps(outShape, [x, weight, bias, addend], addend);
  const k = backend.kernels;
  const out = wrap(
    k.conv2d({
      x: x.storage,
      weight: weight.storage,
      bias: bias?.storage ?? null,
      geometry: g,
      addend: addend?.storage ?? null,
      relu,
      training: willRecord(x, weight, bias),
    }),
    outShape,
    backend,
  );
  return recordSaved(
    [x, weight],
    out,
    OP,
    [x, weight, bias],
    (gy, needs) => {
      const gx = needs[0]
        ? wrap(k.conv2dBackwardData({ gy: gy.storage, weight: weight.storage, geometry: g }), x.shape, backend)
        : null;
      if (!needs[1] && !needs[2]) return [gx, null, null];
      const grads = k.conv2dBackwardWeight({ gy: gy.storage, x: x.storage, geometry: g, withBias: needs[2] });
      const gw = wrap(grads.weight, weight.shape, backend);
      const gb = grads.bias && wrap(grads.bias, [g.outChannels], backend);
      // The kernel computes both together; a frozen weight with a trainable bias drops the weight's.
      if (!needs[1]) gw.dispose();
      return [gx, needs[1] ? gw : null, gb];
    },
    { macs: conv2dMacs(g), window: windowOf(g), attrs: { geometry: g, addend, relu } },
  );
}

function checkPostOps(outShape: Shape, inputs: (Tensor | null)[], addend: Tensor | null): void {
  if (isGradEnabled() && inputs.some((t) => t?.requiresGrad)) {
    throw new ArgumentError(
      OP,
      'fused post-ops (addend, relu) have no gradient: use them under noGrad or with inputs that need none',
    );
  }
  if (addend && (addend.ndim !== 4 || addend.shape.some((d, i) => d !== outShape[i]))) {
    throw new ShapeError(
      OP,
      `addend must have the output's shape ${formatShape(outShape)}, got ${formatShape(addend.shape)}`,
    );
  }
}
