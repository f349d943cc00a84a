/** Parsing and checking command-line values, with messages written for a person. */
import { InvalidArgumentError, Option } from 'commander';
import { ConvkitError } from '../core/errors.js';

/** A mistake in how a command was called; printed as `convkit: <message>` with no prefix of its own. */
export class UsageError extends ConvkitError {
  constructor(message: string) {
    super('convkit', message, undefined);
    this.message = message;
  }
}

/** "3x224x224" -> [3, 224, 224]. */
export function parseInputShape(text: string): [number, number, number] {
  const parts = text.trim().toLowerCase().split('x');
  const dims = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UsageError(`--input must look like 3x224x224 (channels x height x width), got '${text}'`);
  }
  return [dims[0], dims[1], dims[2]];
}

/** An option parser for integers of at least `min`. */
export function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, got '${value}'.`);
    return n;
  };
}

/** An option parser for numbers in (lo, hi]. */
export function numberIn(name: string, lo: number, hi: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !(n > lo && n <= hi))
      throw new InvalidArgumentError(`${name} must be a number above ${lo} and at most ${hi}, got '${value}'.`);
    return n;
  };
}

export type Format = 'text' | 'markdown' | 'json';

/** `--format <format>` limited to the given choices. */
export function formatOption(choices: readonly Format[] = ['text', 'markdown', 'json']): Option {
  return new Option('--format <format>', `output format: ${choices.join(', ')}`).choices(choices).default('text');
}

export function isFormat(value: unknown): value is Format {
  return value === 'text' || value === 'markdown' || value === 'json';
}

/** JSON as the commands print it: two-space indentation, a final newline left to the printer. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
