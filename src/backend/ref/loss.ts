/**
 * Negative log-likelihood of the reference backend, with PyTorch's label smoothing:
 *   loss_i = (1 - eps) * (-logp[i, t_i]) + eps * mean over c of (-logp[i, c])
 * 'mean' divides the sum by n (no class weights, so every row weighs 1).
 */
import type { Kernels, KernelSpecs } from '../backend.js';
import { alloc, allocLike, data, type RefStorage } from './storage.js';

type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

export function nllLoss({ logp, target, n, c, reduction, labelSmoothing: eps }: Args<'nllLoss'>): RefStorage {
  const L = data(logp);
  const perRow = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = i * c;
    let loss = -L[row + target[i]];
    // Skipped when eps = 0, so a -Infinity in another class does not turn 0 * Infinity into NaN.
    if (eps > 0) {
      let sum = 0;
      for (let j = 0; j < c; j++) sum += L[row + j];
      loss = (1 - eps) * loss - (eps * sum) / c;
    }
    perRow[i] = loss;
  }
  if (reduction === 'none') {
    const out = allocLike(logp, n);
    out.data.set(perRow);
    return out;
  }
  const out = allocLike(logp, 1);
  const total = perRow.reduce((a, b) => a + b, 0);
  out.data[0] = reduction === 'mean' ? total / n : total;
  return out;
}

/** d loss_i / d logp[i, j] = -(1 - eps) * [j = t_i] - eps / c, times the upstream gradient of row i. */
export function nllLossBackward({
  gy,
  target,
  n,
  c,
  reduction,
  labelSmoothing: eps,
  dtype,
}: Args<'nllLossBackward'>): RefStorage {
  const G = data(gy);
  const out = alloc(dtype, n * c);
  const D = out.data;
  for (let i = 0; i < n; i++) {
    const g = reduction === 'none' ? G[i] : reduction === 'mean' ? G[0] / n : G[0];
    const row = i * c;
    if (eps > 0) for (let j = 0; j < c; j++) D[row + j] = (-g * eps) / c;
    D[row + target[i]] -= g * (1 - eps);
  }
  return out;
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const lossKernels = { nllLoss, nllLossBackward } satisfies Partial<Kernels>;
