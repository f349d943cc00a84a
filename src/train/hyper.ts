/**
 * Reading optimiser hyper-parameters from a record (options merged with a parameter group's
 * overrides, or a saved state dict) with type and range checks. One path for both, so a state
 * dict cannot smuggle in a value the constructor would refuse.
 */

/** A hyper-parameter value: lr, betas, nesterov, ... */
export type HyperValue = number | boolean | readonly number[];

/** Throws the caller's error (ArgumentError when constructing, WeightsError when loading). */
export type Fail = (detail: string) => never;

export interface Range {
  /** Smallest allowed value (inclusive). */
  min?: number;
  /** Values must be strictly below this. */
  below?: number;
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? JSON.stringify(v) : String(v);
}

function describeRange({ min, below }: Range): string {
  if (min !== undefined && below !== undefined) return `in [${min}, ${below})`;
  if (min !== undefined) return `>= ${min}`;
  return `< ${below}`;
}

function inRange(v: number, { min, below }: Range): boolean {
  return (min === undefined || v >= min) && (below === undefined || v < below);
}

export class HyperReader {
  private readonly used = new Set<string>();

  constructor(
    private readonly record: Readonly<Record<string, unknown>>,
    private readonly fail: Fail,
  ) {}

  private take(key: string): unknown {
    this.used.add(key);
    const v = this.record[key];
    if (v === undefined) this.fail(`${key} is required`);
    return v;
  }

  number(key: string, range: Range = {}): number {
    const v = this.take(key);
    if (typeof v !== 'number' || Number.isNaN(v)) this.fail(`${key} must be a number, got ${show(v)}`);
    if (!inRange(v, range)) this.fail(`${key} must be ${describeRange(range)}, got ${v}`);
    return v;
  }

  boolean(key: string): boolean {
    const v = this.take(key);
    if (typeof v !== 'boolean') this.fail(`${key} must be true or false, got ${show(v)}`);
    return v;
  }

  pair(key: string, range: Range = {}): [number, number] {
    const v = this.take(key);
    const items: unknown[] = Array.isArray(v) ? v : [];
    const [a, b] = items;
    if (items.length !== 2 || typeof a !== 'number' || typeof b !== 'number' || Number.isNaN(a) || Number.isNaN(b)) {
      this.fail(`${key} must be two numbers, got ${show(v)}`);
    }
    [a, b].forEach((x, i) => {
      if (!inRange(x, range)) this.fail(`${key}[${i}] must be ${describeRange(range)}, got ${x}`);
    });
    return [a, b];
  }

  /** Rejects keys nothing asked for: a typo such as `weight_decay` would otherwise be ignored. */
  finish(): void {
    const unknown = Object.keys(this.record).filter((k) => !this.used.has(k) && this.record[k] !== undefined);
    if (unknown.length > 0) {
      this.fail(
        `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map(show).join(', ')} (known: ${[...this.used].join(', ')})`,
      );
    }
  }
}
