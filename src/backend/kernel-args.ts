/**
 * The resolved values that kernel arguments are made of (geometry, layouts, op names), declared
 * for `KernelSpecs` in backend.ts, which re-exports them. The ops compute them once; kernels only
 * read them.
 */
/** A fully resolved 2-D convolution: every field is a plain integer, padding may be asymmetric. */
export interface Conv2dGeometry {
  batch: number;
  inChannels: number;
  inH: number;
  inW: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  dilationH: number;
  dilationW: number;
  groups: number;
  outH: number;
  outW: number;
}

/** A fully resolved 2-D pooling window (max or average). Padding is symmetric, as in PyTorch. */
export interface Pool2dGeometry {
  batch: number;
  channels: number;
  inH: number;
  inW: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

/** N x C x (H*W) view of an NCHW (or NC) tensor, as the normalisation kernels need it. */
export interface ChannelLayout {
  batch: number;
  channels: number;
  spatial: number;
}

/** outer x dim x inner view of a tensor around one axis (softmax and reductions). */
export interface AxisLayout {
  outer: number;
  dim: number;
  inner: number;
}

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'square' | 'reciprocal' | 'relu' | 'sigmoid' | 'tanh';
export type ScalarOp = 'add' | 'mul' | 'pow' | 'max' | 'min' | 'rsub' | 'rdiv';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'eq' | 'gt' | 'lt';
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';
export type ActivationOp = 'relu' | 'sigmoid' | 'tanh';
export type Reduction = 'mean' | 'sum' | 'none';
