/**
 * Sliding-window arithmetic shared by convolution and pooling (and by analysis, layers and export):
 * how many windows fit along one axis, and the padding 'same' needs. The formulas are PyTorch's
 * (`conv_output_size` and `pooling_output_shape_pad_lr` in ATen), so shapes agree to the pixel.
 */

/** One spatial axis of a sliding window. */
export interface WindowAxis {
  /** Input length along the axis. */
  size: number;
  kernel: number;
  stride: number;
  padBefore: number;
  padAfter: number;
  dilation: number;
  /** Round the window count up instead of down (pooling only). */
  ceilMode?: boolean;
}

/** The span a dilated kernel covers: dilation * (kernel - 1) + 1. */
export function dilatedKernel(kernel: number, dilation: number): number {
  return dilation * (kernel - 1) + 1;
}

/**
 * Number of window positions along one axis: floor((padded - dilatedKernel) / stride) + 1, or
 * with ceil mode rounded up, minus one if the last window would start beyond the input and its
 * left padding (PyTorch's rule: every window must start inside the input or the left padding, so
 * it sees at least one real or left-pad element). May be zero or negative; callers check.
 */
export function windowCount(a: WindowAxis): number {
  const span = a.size + a.padBefore + a.padAfter - dilatedKernel(a.kernel, a.dilation);
  if (!a.ceilMode) return Math.floor(span / a.stride) + 1;
  let count = Math.floor((span + a.stride - 1) / a.stride) + 1;
  if ((count - 1) * a.stride >= a.size + a.padBefore) count--;
  return count;
}

/**
 * Padding that keeps the output as large as the input at stride 1: the dilated kernel minus one,
 * split with the odd element after (bottom/right), as PyTorch's padding='same' does.
 */
export function samePadding(kernel: number, dilation: number): [before: number, after: number] {
  const total = dilation * (kernel - 1);
  const before = Math.floor(total / 2);
  return [before, total - before];
}
