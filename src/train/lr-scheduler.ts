/**
 * The learning-rate schedule base, after torch.optim.lr_scheduler._LRScheduler: construction
 * records each group's initial lr and takes the first step (epoch 0); every step() advances one
 * epoch (or iteration) and writes the new lr into the optimiser's groups.
 *
 * Unlike PyTorch's recursive ("chainable") forms, convkit computes every lr in closed form from
 * the base lr and the epoch (PyTorch's `_get_closed_form_lr`). The values agree with PyTorch's
 * to rounding; the position is then the whole state, so a restored schedule continues exactly.
 * The difference: an lr changed by hand between steps is overwritten at the next step, and two
 * schedules on one optimiser do not multiply (chain them with SequentialLR instead).
 */
import { ArgumentError, WeightsError } from '../core/errors.js';

/** What a schedule drives: the optimiser's groups and their lr (any convkit Optimizer). */
export interface LrTarget {
  readonly name: string;
  readonly paramGroups: readonly { lr: number; initialLr?: number }[];
}

/** The lr of a group with base lr `baseLr` at `epoch` (0 right after construction). */
export type LrCurve = (baseLr: number, epoch: number) => number;

export interface LrSchedulerStateDict {
  schedule: string;
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
}

export class LRScheduler {
  /** Each group's initial lr, as PyTorch's base_lrs. */
  baseLrs: number[];
  /** Steps taken since construction: 0 after construction (PyTorch's last_epoch). */
  lastEpoch = -1;
  private lastLr: number[] = [];

  constructor(
    /** 'StepLR', 'CosineAnnealingLR', ...: errors and state dicts carry it. */
    readonly schedule: string,
    readonly optimizer: LrTarget,
    private readonly curve: LrCurve,
  ) {
    // PyTorch's setdefault('initial_lr'): a later schedule on the same optimiser starts from the
    // same base, whatever lr the earlier one left behind.
    for (const group of optimizer.paramGroups) group.initialLr ??= group.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr ?? g.lr);
    this.step();
  }

  /** The lr this schedule gives a group of base lr `baseLr` at `epoch`. */
  lrAt(baseLr: number, epoch: number): number {
    return this.curve(baseLr, epoch);
  }

  /** Advances one epoch (or iteration) and sets every group's lr. Call it after optimizer.step(). */
  step(): void {
    this.lastEpoch += 1;
    this.lastLr = this.baseLrs.map((base) => this.curve(base, this.lastEpoch));
    this.optimizer.paramGroups.forEach((group, i) => {
      group.lr = this.lastLr[i];
    });
  }

  /** The lr of every group as this schedule last set it. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Plain JSON. The options (stepSize, tMax, ...) are the constructor's, not state. */
  stateDict(): LrSchedulerStateDict {
    return { schedule: this.schedule, lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /**
   * Restores the position. Like PyTorch it leaves the groups' lr alone: the optimiser's state dict
   * restores those; the next step() continues from the restored epoch.
   */
  loadStateDict(dict: LrSchedulerStateDict): void {
    const fail = (detail: string): never => {
      throw new WeightsError(this.schedule, `cannot load state dict: ${detail}`);
    };
    if (dict.schedule !== this.schedule)
      fail(`it was written by ${String(dict.schedule)}, this schedule is ${this.schedule}`);
    if (!Number.isInteger(dict.lastEpoch) || dict.lastEpoch < 0)
      fail(`lastEpoch must be a non-negative integer, got ${String(dict.lastEpoch)}`);
    const groups = this.optimizer.paramGroups.length;
    for (const key of ['baseLrs', 'lastLr'] as const) {
      const list: unknown = dict[key];
      if (!Array.isArray(list) || list.length !== groups || !list.every((v) => typeof v === 'number')) {
        fail(`${key} must hold one number per parameter group (${groups}), got ${JSON.stringify(list)}`);
      }
    }
    this.lastEpoch = dict.lastEpoch;
    this.baseLrs = [...dict.baseLrs];
    this.lastLr = [...dict.lastLr];
  }
}

/** Argument checks shared by the schedules; they throw ArgumentError naming schedule and option. */
export function positiveInteger(schedule: string, key: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0)
    throw new ArgumentError(schedule, `${key} must be a positive integer, got ${String(v)}`);
  return v;
}

export function finiteNumber(schedule: string, key: string, v: number, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    const range =
      min === -Infinity ? 'a finite number' : max === Infinity ? `a finite number >= ${min}` : `in [${min}, ${max}]`;
    throw new ArgumentError(schedule, `${key} must be ${range}, got ${String(v)}`);
  }
  return v;
}
