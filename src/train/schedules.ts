/**
 * Learning-rate schedules with PyTorch's semantics (torch.optim.lr_scheduler, 1.13), each as the
 * closed form of its recursive PyTorch definition. `epoch` counts scheduler.step() calls.
 */
import { ArgumentError } from '../core/errors.js';
import { finiteNumber, LRScheduler, type LrTarget, positiveInteger } from './lr-scheduler.js';

export interface StepLROptions {
  /** Epochs between decays. */
  stepSize: number;
  /** Factor applied every stepSize epochs. Default 0.1. */
  gamma?: number;
}

/** lr = base * gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: LrTarget, options: StepLROptions) {
    const stepSize = positiveInteger('StepLR', 'stepSize', options.stepSize);
    const gamma = finiteNumber('StepLR', 'gamma', options.gamma ?? 0.1);
    super('StepLR', optimizer, (base, epoch) => base * gamma ** Math.floor(epoch / stepSize));
    this.stepSize = stepSize;
    this.gamma = gamma;
  }
}

export interface MultiStepLROptions {
  /** Epochs at which the lr is multiplied by gamma; a milestone listed twice applies gamma twice. */
  milestones: readonly number[];
  /** Default 0.1. */
  gamma?: number;
}

/** lr = base * gamma^(number of milestones <= epoch). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: readonly number[];
  readonly gamma: number;

  constructor(optimizer: LrTarget, options: MultiStepLROptions) {
    const milestones = [...options.milestones].sort((a, b) => a - b);
    for (const m of milestones) {
      if (!Number.isInteger(m) || m < 0)
        throw new ArgumentError(
          'MultiStepLR',
          `milestones must be non-negative integers, got ${JSON.stringify(options.milestones)}`,
        );
    }
    const gamma = finiteNumber('MultiStepLR', 'gamma', options.gamma ?? 0.1);
    super('MultiStepLR', optimizer, (base, epoch) => base * gamma ** milestones.filter((m) => m <= epoch).length);
    this.milestones = milestones;
    this.gamma = gamma;
  }
}

export interface CosineAnnealingLROptions {
  /** Epochs from the base lr down to etaMin; past it the curve rises again, as PyTorch's does. */
  tMax: number;
  /** Smallest lr. Default 0. */
  etaMin?: number;
}

/** lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2 (SGDR without restarts). */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: LrTarget, options: CosineAnnealingLROptions) {
    const tMax = options.tMax;
    if (typeof tMax !== 'number' || !Number.isFinite(tMax) || tMax <= 0) {
      throw new ArgumentError('CosineAnnealingLR', `tMax must be a positive number, got ${String(tMax)}`);
    }
    const etaMin = finiteNumber('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0, 0);
    super(
      'CosineAnnealingLR',
      optimizer,
      (base, epoch) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2,
    );
    this.tMax = tMax;
    this.etaMin = etaMin;
  }
}

export interface LinearLROptions {
  /** Factor of the base lr at epoch 0, in [0, 1]. Default 1/3. */
  startFactor?: number;
  /** Factor reached at totalIters and kept after, in [0, 1]. Default 1. */
  endFactor?: number;
  /** Epochs of the ramp. Default 5. */
  totalIters?: number;
}

/**
 * lr = base * (start + (end - start) * min(epoch, totalIters) / totalIters): a linear warm-up
 * (or decay). The closed form also handles startFactor 0, where PyTorch 1.13's recursive form
 * divides by zero.
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: LrTarget, options: LinearLROptions = {}) {
    const start = finiteNumber('LinearLR', 'startFactor', options.startFactor ?? 1 / 3, 0, 1);
    const end = finiteNumber('LinearLR', 'endFactor', options.endFactor ?? 1, 0, 1);
    const total = positiveInteger('LinearLR', 'totalIters', options.totalIters ?? 5);
    super('LinearLR', optimizer, (base, epoch) => base * (start + ((end - start) * Math.min(total, epoch)) / total));
    this.startFactor = start;
    this.endFactor = end;
    this.totalIters = total;
  }
}
