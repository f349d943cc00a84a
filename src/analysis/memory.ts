/**
 * An estimate of the memory one training step needs, by this convention:
 * - parameters: every parameter, at its dtype's size (float32: 4 bytes);
 * - gradients: one tensor like each trainable parameter;
 * - optimiser state: slots per trainable parameter, as PyTorch's optimisers keep them: plain SGD 0,
 *   SGD with momentum 1 (the momentum buffer), Adam 2 (first and second moments; AMSGrad would add
 *   a third);
 * - buffers: BN running statistics and counters;
 * - saved activations: the input and every distinct tensor the forward pass produces, at the batch
 *   size, kept until backward (no in-place ops, no activation checkpointing; views share storage
 *   and count once). Training-only tensors (dropout masks, BN batch statistics) are left out, and
 *   the transient gradients of activations during backward are not counted.
 * Real frameworks free and reuse memory more cleverly, so read this as an upper-bound-style budget,
 * not a measurement; torchinfo's "forward/backward pass size" is a similar estimate.
 */
import type { Tensor } from '../core/tensor.js';
import { DTYPE_BYTES } from './trace-model.js';

export type OptimizerKind = 'sgd' | 'sgd-momentum' | 'adam';

/** State tensors per trainable parameter. */
export const OPTIMIZER_SLOTS: Readonly<Record<OptimizerKind, number>> = { sgd: 0, 'sgd-momentum': 1, adam: 2 };

export interface TrainingMemory {
  batch: number;
  optimizer: OptimizerKind;
  optimizerSlots: number;
  parameterBytes: number;
  gradientBytes: number;
  optimizerStateBytes: number;
  bufferBytes: number;
  activationBytes: number;
  totalBytes: number;
}

export interface TrainingMemoryInput {
  params: readonly Tensor[];
  /** Forward-pass bytes at this batch size (trace-model's forwardBytes). */
  activationBytes: number;
  bufferBytes: number;
  batch: number;
  optimizer: OptimizerKind;
}

export function estimateTrainingMemory(o: TrainingMemoryInput): TrainingMemory {
  const bytes = (ts: readonly Tensor[]): number => ts.reduce((n, t) => n + t.size * DTYPE_BYTES[t.dtype], 0);
  const parameterBytes = bytes(o.params);
  const gradientBytes = bytes(o.params.filter((p) => p.requiresGrad));
  const optimizerSlots = OPTIMIZER_SLOTS[o.optimizer];
  const optimizerStateBytes = optimizerSlots * gradientBytes;
  const totalBytes = parameterBytes + gradientBytes + optimizerStateBytes + o.bufferBytes + o.activationBytes;
  return {
    batch: o.batch,
    optimizer: o.optimizer,
    optimizerSlots,
    parameterBytes,
    gradientBytes,
    optimizerStateBytes,
    bufferBytes: o.bufferBytes,
    activationBytes: o.activationBytes,
    totalBytes,
  };
}
