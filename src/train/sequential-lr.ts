/**
 * Schedules one after another (torch.optim.lr_scheduler.SequentialLR), and the common linear
 * warm-up then cosine decay built from it.
 */
import { ArgumentError } from '../core/errors.js';
import { LRScheduler, type LrTarget } from './lr-scheduler.js';
import { CosineAnnealingLR, LinearLR } from './schedules.js';

/**
 * Runs schedulers[0] until milestones[0], then schedulers[1] from its own epoch 0, and so on, as
 * PyTorch's SequentialLR does (it restarts the next schedule with step(0) at each milestone).
 * Every schedule starts from the groups' initial lr. Step this one, not the schedules inside it:
 * they only supply their curves.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: readonly LRScheduler[];
  readonly milestones: readonly number[];

  constructor(optimizer: LrTarget, schedulers: readonly LRScheduler[], milestones: readonly number[]) {
    if (schedulers.length === 0) throw new ArgumentError('SequentialLR', 'needs at least one scheduler');
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer)
        throw new ArgumentError(
          'SequentialLR',
          `scheduler ${i} (${s.schedule}) drives another optimiser; all must drive the one passed in`,
        );
    });
    if (milestones.length !== schedulers.length - 1) {
      throw new ArgumentError(
        'SequentialLR',
        `expects one milestone fewer than schedulers, got ${schedulers.length} schedulers and ${milestones.length} milestones`,
      );
    }
    milestones.forEach((m, i) => {
      if (!Number.isInteger(m) || m <= 0 || (i > 0 && m <= milestones[i - 1])) {
        throw new ArgumentError(
          'SequentialLR',
          `milestones must be increasing positive integers, got ${JSON.stringify(milestones)}`,
        );
      }
    });
    const own = [...schedulers];
    const marks = [...milestones];
    super('SequentialLR', optimizer, (base, epoch) => {
      let i = 0;
      while (i < marks.length && marks[i] <= epoch) i++;
      return own[i].lrAt(base, i === 0 ? epoch : epoch - marks[i - 1]);
    });
    this.schedulers = own;
    this.milestones = marks;
  }
}

export interface WarmupCosineOptions {
  /** Epochs (or iterations) of linear warm-up; the cosine starts at this epoch with the base lr. */
  warmupIters: number;
  /** Factor of the base lr at epoch 0. Default 1/3, LinearLR's default. */
  startFactor?: number;
  /** Length of the cosine after warm-up. */
  tMax: number;
  /** Default 0. */
  etaMin?: number;
}

/** SequentialLR of LinearLR(startFactor -> 1 over warmupIters) and CosineAnnealingLR(tMax, etaMin). */
export function warmupCosine(optimizer: LrTarget, options: WarmupCosineOptions): SequentialLR {
  const warmup = new LinearLR(optimizer, {
    startFactor: options.startFactor ?? 1 / 3,
    endFactor: 1,
    totalIters: options.warmupIters,
  });
  const cosine = new CosineAnnealingLR(optimizer, { tMax: options.tMax, etaMin: options.etaMin ?? 0 });
  return new SequentialLR(optimizer, [warmup, cosine], [options.warmupIters]);
}
