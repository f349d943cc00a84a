/**
 * The one place the command line parses and checks its values. Every parser names the option, the
 * values it accepts and what came, e.g. `--layers: expected an integer from 1 to 10000, got 1e9`,
 * and throws a UsageError (exit status 2). The option factories put the same range in `--help`.
 */
import { Option } from 'commander';
import { ConvkitError } from '../core/errors.js';

/** A mistake in how a command was called; printed as `convkit: <message>`, exit status 2. */
export class UsageError extends ConvkitError {
  constructor(message: string) {
    super('convkit', message, undefined);
    this.message = message;
  }
}

/** What came, on one line: as typed when it is plain, quoted when empty or odd, cut when long. */
export function shown(text: string): string {
  const cut = text.length > 60 ? `${text.slice(0, 60)}...` : text;
  return /^[\x21-\x7e]+$/.test(cut) ? cut : JSON.stringify(cut);
}

/** A decimal number as a person types it: 12, +12, 0.5, .5, 1e3 (no hex, no Infinity, no blanks). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export interface IntRange {
  min: number;
  max: number;
}

/** An integer from `min` to `max` (both safe integers); 1e3 is read as 1000. */
export function parseInteger(name: string, text: string, range: IntRange, note?: (n: number) => string): number {
  const t = text.trim();
  const n = DECIMAL.test(t) ? Number(t) : Number.NaN;
  if (Number.isSafeInteger(n) && n >= range.min && n <= range.max) return n;
  const extra = note && Number.isFinite(n) ? ` ${note(n)}` : '';
  throw new UsageError(`${name}: expected an integer from ${range.min} to ${range.max}, got ${shown(text)}${extra}`);
}

export interface NumberRange {
  min: number;
  max: number;
  /** True when `min` itself is not allowed: (min, max]. */
  aboveMin?: boolean;
}

const rangeWords = (r: NumberRange): string =>
  r.aboveMin ? `above ${r.min} and at most ${r.max}` : `from ${r.min} to ${r.max}`;

/** A finite number in [min, max], or (min, max] with `aboveMin`. */
export function parseNumber(name: string, text: string, range: NumberRange): number {
  const t = text.trim();
  const n = DECIMAL.test(t) ? Number(t) : Number.NaN;
  const low = range.aboveMin ? n > range.min : n >= range.min;
  if (Number.isFinite(n) && low && n <= range.max) return n;
  throw new UsageError(`${name}: expected a number ${rangeWords(range)}, got ${shown(text)}`);
}

/** One of `choices`, exactly as written. */
export function parseChoice<T extends string>(name: string, text: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === text);
  if (found !== undefined) return found;
  throw new UsageError(`${name}: expected one of ${choices.join(', ')}, got ${shown(text)}`);
}

/** A file or folder name: not empty, no NUL bytes (the checks against the file system come later). */
export function parsePath(name: string, text: string): string {
  if (text.trim() === '' || text.includes('\0'))
    throw new UsageError(`${name}: expected a file path, got ${shown(text)}`);
  return text;
}

/** Limits of an input size CxHxW. */
export const INPUT_LIMITS = { channels: 1_000_000, side: 100_000 } as const;

const INPUT_WORDS = `channels x height x width such as 3x224x224 (channels 1 to ${INPUT_LIMITS.channels}, height and width 1 to ${INPUT_LIMITS.side})`;

/** "3x224x224" -> [3, 224, 224]. */
export function parseInputShape(text: string, name = '--input'): [number, number, number] {
  const parts = text.trim().toLowerCase().split('x');
  const dims = parts.map((p) => (/^\d{1,7}$/.test(p) ? Number(p) : Number.NaN));
  const max = [INPUT_LIMITS.channels, INPUT_LIMITS.side, INPUT_LIMITS.side];
  if (dims.length !== 3 || dims.some((d, i) => !(d >= 1 && d <= max[i])))
    throw new UsageError(`${name}: expected ${INPUT_WORDS}, got ${shown(text)}`);
  return [dims[0], dims[1], dims[2]];
}

// ---- options for commander, with the range in their help ----------------------------------------

/** `flags` with an integer parser; the help says the range. */
export function intOption(
  flags: string,
  description: string,
  range: IntRange,
  defaultValue?: number,
  note?: (n: number) => string,
): Option {
  const o = new Option(flags, `${description} (${range.min} to ${range.max})`);
  const name = o.long ?? flags;
  o.argParser((v: string) => parseInteger(name, v, range, note));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** `flags` with a number parser; the help says the range. */
export function numberOption(flags: string, description: string, range: NumberRange, defaultValue?: number): Option {
  const o = new Option(flags, `${description} (${rangeWords(range)})`);
  const name = o.long ?? flags;
  o.argParser((v: string) => parseNumber(name, v, range));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** `flags` limited to `choices`; the help lists them. */
export function choiceOption<T extends string>(
  flags: string,
  description: string,
  choices: readonly T[],
  defaultValue?: T,
): Option {
  const o = new Option(flags, `${description} (one of: ${choices.join(', ')})`);
  const name = o.long ?? flags;
  o.argParser((v: string) => parseChoice(name, v, choices));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** `flags` naming a file or folder. */
export function pathOption(flags: string, description: string, defaultValue?: string): Option {
  const o = new Option(flags, description);
  const name = o.long ?? flags;
  o.argParser((v: string) => parsePath(name, v));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** `flags` taking CxHxW. */
export function inputOption(flags: string, description: string): Option {
  const o = new Option(
    flags,
    `${description}; channels 1 to ${INPUT_LIMITS.channels}, sides 1 to ${INPUT_LIMITS.side}`,
  );
  const name = o.long ?? flags;
  return o.argParser((v: string) => parseInputShape(v, name));
}

export type Format = 'text' | 'markdown' | 'json';

/** `--format <format>` limited to the given choices. */
export function formatOption(choices: readonly Format[] = ['text', 'markdown', 'json']): Option {
  return choiceOption('--format <format>', 'output format', choices, 'text');
}

export function isFormat(value: unknown): value is Format {
  return value === 'text' || value === 'markdown' || value === 'json';
}

/**
 * Throws a UsageError unless every number in `value` is finite and at most 2^53 - 1 in size, so
 * that counts print exact; `what` says which arguments to make smaller.
 */
export function requireExact(value: unknown, what: string): void {
  const visit = (v: unknown, path: string): void => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER)
        throw new UsageError(
          `${what}: ${path} would be ${v}, past 2^53 - 1 = ${Number.MAX_SAFE_INTEGER}, the largest integer a double holds exactly`,
        );
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => visit(x, `${path}[${i}]`));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) visit(x, path === '' ? k : `${path}.${k}`);
    }
  };
  visit(value, '');
}

/** JSON as the commands print it: two-space indentation, a final newline left to the printer. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
