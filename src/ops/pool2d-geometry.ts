/** Options, checks and output size of 2-D max and average pooling, shared by both ops. */
import type { Pool2dGeometry } from '../backend/backend.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape, pair, type IntOrPair, type Shape } from '../core/shape.js';
import { windowCount } from './window.js';

export interface Pool2dOptions {
  kernelSize: IntOrPair;
  /** Default: kernelSize (non-overlapping windows), as in PyTorch. */
  stride?: IntOrPair;
  /** Default 0. Implicit padding on both sides; at most half the kernel. */
  padding?: IntOrPair;
  /** Default 1. Max pooling only. */
  dilation?: IntOrPair;
  /** Default false. Count windows with ceil instead of floor (GoogLeNet's pools use it). */
  ceilMode?: boolean;
}

const show = (v: IntOrPair): string => (typeof v === 'number' ? String(v) : `[${v.join(', ')}]`);

function intPair(op: string, name: string, value: IntOrPair, min: number): [number, number] {
  const p = pair(value);
  if (!p.every((v) => Number.isInteger(v) && v >= min)) {
    throw new ArgumentError(
      op,
      `${name} must be ${min === 0 ? 'non-negative' : 'positive'} integers, got ${show(value)}`,
    );
  }
  return p;
}

/** Batch, channels, height, width of an NCHW or CHW input, with a rank check naming `op`. */
export function imageDims(op: string, xShape: Shape): [batch: number, channels: number, height: number, width: number] {
  if (xShape.length !== 4 && xShape.length !== 3) {
    throw new ShapeError(
      op,
      `input must be 4-D [batch, channels, height, width] (or 3-D without batch), got ${formatShape(xShape)}`,
    );
  }
  const [batch, channels, height, width] = xShape.length === 4 ? xShape : [1, ...xShape];
  if (height < 1 || width < 1)
    throw new ShapeError(op, `input has an empty image (${height}x${width}), shape ${formatShape(xShape)}`);
  return [batch, channels, height, width];
}

/**
 * Resolves and checks a pooling window over an NCHW (or CHW) input; `op` names the caller in
 * errors. The checks are PyTorch's: positive kernel, stride and dilation, padding at most half the
 * (undilated) kernel, and at least one output pixel.
 */
export function pool2dGeometry(op: string, xShape: Shape, opts: Pool2dOptions): Pool2dGeometry {
  const [batch, channels, inH, inW] = imageDims(op, xShape);
  const [kernelH, kernelW] = intPair(op, 'kernelSize', opts.kernelSize, 1);
  const [strideH, strideW] = intPair(op, 'stride', opts.stride ?? opts.kernelSize, 1);
  const [padH, padW] = intPair(op, 'padding', opts.padding ?? 0, 0);
  const [dilationH, dilationW] = intPair(op, 'dilation', opts.dilation ?? 1, 1);
  if (padH > Math.floor(kernelH / 2) || padW > Math.floor(kernelW / 2)) {
    throw new ArgumentError(
      op,
      `padding ${show(opts.padding ?? 0)} is more than half the kernel ${kernelH}x${kernelW} (at most ${Math.floor(kernelH / 2)}x${Math.floor(kernelW / 2)}, as in PyTorch)`,
    );
  }
  const ceilMode = opts.ceilMode ?? false;
  const outH = windowCount({
    size: inH,
    kernel: kernelH,
    stride: strideH,
    padBefore: padH,
    padAfter: padH,
    dilation: dilationH,
    ceilMode,
  });
  const outW = windowCount({
    size: inW,
    kernel: kernelW,
    stride: strideW,
    padBefore: padW,
    padAfter: padW,
    dilation: dilationW,
    ceilMode,
  });
  if (outH < 1 || outW < 1) {
    const dilated = dilationH > 1 || dilationW > 1 ? ` dilated by ${dilationH}x${dilationW}` : '';
    throw new ShapeError(
      op,
      `output would be ${Math.max(outH, 0)}x${Math.max(outW, 0)}: kernel ${kernelH}x${kernelW}${dilated} does not fit the input ${inH}x${inW} padded by ${padH}x${padW}`,
    );
  }
  return {
    batch,
    channels,
    inH,
    inW,
    kernelH,
    kernelW,
    strideH,
    strideW,
    padH,
    padW,
    dilationH,
    dilationW,
    outH,
    outW,
  };
}
