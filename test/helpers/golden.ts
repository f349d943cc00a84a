/**
 * Loading PyTorch golden fixtures (test/golden/*.json, written by scripts/golden/*.py) and
 * comparing convkit's results with them. Tests never need PyTorch; the fixtures are committed.
 * A failure names the case, the quantity, the element (as an index and flat position), both
 * values, and the command that regenerates the fixtures.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../src/core/tensor.js';
import { fromArray } from '../../src/ops/creation.js';

/**
 * A tensor as the generators write it: row-major values, integers marked with dtype 'int'. JSON has
 * no NaN or infinity, so the fixtures write them as "NaN", "Infinity" and "-Infinity"; loading
 * turns them back into numbers.
 */
export interface GoldenTensor {
  shape: number[];
  values: number[];
  dtype?: 'int';
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface GoldenCase {
  name: string;
  /** The convkit op the case exercises. */
  op: string;
  /** The op's options exactly as convkit takes them. */
  args: Record<string, JsonValue>;
  inputs: Record<string, GoldenTensor>;
  output: GoldenTensor;
  /** Gradient fed into backward(): the gradients are those of sum(output * upstream). */
  upstream: GoldenTensor;
  grads: Record<string, GoldenTensor>;
  /** Inputs the op updates in place (batch norm's running statistics), after the call. */
  state?: Record<string, GoldenTensor>;
}

export interface GoldenFile {
  generator: string;
  /** The command that rewrites this one file. */
  regenerate: string;
  torch: string;
  cases: GoldenCase[];
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** float32 agreement: |convkit - torch| <= atol + rtol * |torch|. */
export const FLOAT32_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

/** Fixture values: numbers, or the strings that stand for NaN and the infinities. */
function decodeValues(v: unknown): number[] | null {
  if (!Array.isArray(v)) return null;
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x === 'number') out[i] = x;
    else if (typeof x === 'string' && x in NON_FINITE) out[i] = NON_FINITE[x];
    else return null;
  }
  return out;
}

function isJson(v: unknown): v is JsonValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return true;
  if (Array.isArray(v)) return v.every(isJson);
  return isRecord(v) && Object.values(v).every(isJson);
}

function parseTensor(v: unknown, where: string): GoldenTensor {
  const values = isRecord(v) ? decodeValues(v.values) : null;
  if (!isRecord(v) || !isNumberArray(v.shape) || values === null) {
    throw new Error(`${where}: expected {shape: number[], values: (number | "NaN" | "Infinity" | "-Infinity")[]}`);
  }
  const size = v.shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new Error(`${where}: ${values.length} values for shape [${v.shape.join(', ')}]`);
  if (v.dtype !== undefined && v.dtype !== 'int') throw new Error(`${where}: unknown dtype ${String(v.dtype)}`);
  return v.dtype === 'int' ? { shape: v.shape, values, dtype: 'int' } : { shape: v.shape, values };
}

/** NaN matches only NaN and an infinity only the same infinity; finite values within the tolerance. */
export function agrees(actual: number, want: number, { atol, rtol }: Tolerance): boolean {
  if (Number.isNaN(want)) return Number.isNaN(actual);
  if (!Number.isFinite(want)) return actual === want;
  // The negated test also catches NaN in convkit's values.
  return Math.abs(actual - want) <= atol + rtol * Math.abs(want);
}

function parseTensors(v: unknown, where: string): Record<string, GoldenTensor> {
  if (!isRecord(v)) throw new Error(`${where}: expected an object of tensors`);
  return Object.fromEntries(Object.entries(v).map(([k, t]) => [k, parseTensor(t, `${where}.${k}`)]));
}

function parseCase(v: unknown, index: number): GoldenCase {
  const where = `case ${index}`;
  if (!isRecord(v) || typeof v.name !== 'string' || typeof v.op !== 'string')
    throw new Error(`${where}: expected name and op strings`);
  if (!isRecord(v.args) || !isJson(v.args)) throw new Error(`${where} (${v.name}): args must be a JSON object`);
  return {
    name: v.name,
    op: v.op,
    args: v.args,
    inputs: parseTensors(v.inputs, `${v.name}: inputs`),
    output: parseTensor(v.output, `${v.name}: output`),
    upstream: parseTensor(v.upstream, `${v.name}: upstream`),
    grads: parseTensors(v.grads, `${v.name}: grads`),
    ...(v.state === undefined ? {} : { state: parseTensors(v.state, `${v.name}: state`) }),
  };
}

/** Reads test/golden/<name>.json and checks its structure. */
export function loadGolden(name: string): GoldenFile {
  const path = fileURLToPath(new URL(`../golden/${name}.json`, import.meta.url));
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (
    !isRecord(raw) ||
    !Array.isArray(raw.cases) ||
    typeof raw.generator !== 'string' ||
    typeof raw.regenerate !== 'string'
  ) {
    throw new Error(
      `${path}: expected {generator, regenerate, torch, cases: [...]}; ${regenerateHint(`/usr/bin/python3 scripts/golden/${name}.py`)}`,
    );
  }
  return {
    generator: raw.generator,
    regenerate: raw.regenerate,
    torch: String(raw.torch),
    cases: raw.cases.map(parseCase),
  };
}

export function regenerateHint(command: string): string {
  return `if PyTorch changed or the case is wrong, regenerate the fixtures with \`npm run golden\` (or \`${command}\`)`;
}

/** A float32 tensor holding a fixture's values. */
export function goldenToTensor(t: GoldenTensor, requiresGrad = false): Tensor {
  return fromArray(t.values, t.shape, { requiresGrad });
}

/** Integer class targets as convkit's losses take them. */
export function goldenToInts(t: GoldenTensor): Int32Array {
  return Int32Array.from(t.values);
}

/** Row-major flat position -> [i, j, ...]. */
function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

export interface CompareContext {
  /** The case's name, e.g. "conv2d stride 2, odd sizes". */
  caseName: string;
  /** What is compared, e.g. "output" or "gradient of weight". */
  quantity: string;
  regenerate: string;
  tolerance?: Tolerance;
}

/**
 * Asserts that convkit's values agree with PyTorch's element by element. The message reports the
 * first and the worst differing element and how many differ.
 */
export function assertMatchesGolden(
  actual: Tensor | ArrayLike<number> | null | undefined,
  expected: GoldenTensor,
  ctx: CompareContext,
): void {
  const tolerance = ctx.tolerance ?? FLOAT32_TOLERANCE;
  const { atol, rtol } = tolerance;
  const head = `golden case "${ctx.caseName}": ${ctx.quantity}`;
  const hint = regenerateHint(ctx.regenerate);
  if (actual === null || actual === undefined)
    assert.fail(`${head} is missing in convkit (PyTorch has one of shape [${expected.shape.join(', ')}]); ${hint}`);
  if (
    isTensor(actual) &&
    (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i]))
  ) {
    assert.fail(
      `${head} has shape [${actual.shape.join(', ')}] in convkit, [${expected.shape.join(', ')}] in PyTorch; ${hint}`,
    );
  }
  const values = isTensor(actual) ? actual.toArray() : actual;
  if (values.length !== expected.values.length) {
    assert.fail(`${head} has ${values.length} elements in convkit, ${expected.values.length} in PyTorch; ${hint}`);
  }
  let bad = 0;
  let first = -1;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < values.length; i++) {
    const want = expected.values[i];
    if (!agrees(values[i], want, tolerance)) {
      bad++;
      if (first < 0) first = i;
      const diff = Math.abs(values[i] - want);
      const excess = Number.isFinite(diff) ? diff / (atol + rtol * Math.abs(want)) : Infinity;
      if (worst < 0 || excess > worstExcess) [worst, worstExcess] = [i, excess];
    }
  }
  if (bad === 0) return;
  const describe = (i: number): string => {
    const want = expected.values[i];
    return `[${unravel(i, expected.shape).join(', ')}] (flat ${i}): convkit ${values[i]} vs PyTorch ${want} (|diff| ${Math.abs(values[i] - want).toExponential(2)}, allowed ${(atol + rtol * Math.abs(want)).toExponential(2)})`;
  };
  const worstText = worst !== first ? `; worst at ${describe(worst)}` : '';
  assert.fail(
    `${head} differs from PyTorch in ${bad} of ${values.length} elements; first at ${describe(first)}${worstText}. ${hint}`,
  );
}

function isTensor(v: Tensor | ArrayLike<number>): v is Tensor {
  return 'isTensor' in v && v.isTensor === true;
}

/** Typed reads of a case's args; a value of the wrong type fails the test with the case's name. */
export class GoldenArgs {
  constructor(
    private readonly args: Record<string, JsonValue>,
    private readonly caseName: string,
  ) {}

  private wrong(key: string, expected: string): never {
    return assert.fail(
      `golden case "${this.caseName}": args.${key} should be ${expected}, got ${JSON.stringify(this.args[key])}`,
    );
  }

  /** The raw value (undefined when absent). */
  raw(key: string): JsonValue | undefined {
    return this.args[key];
  }

  number(key: string): number | undefined {
    const v = this.args[key];
    if (v === undefined) return undefined;
    return typeof v === 'number' ? v : this.wrong(key, 'a number');
  }

  requiredNumber(key: string): number {
    return this.number(key) ?? this.wrong(key, 'a number');
  }

  numbers(key: string): number[] | undefined {
    const v = this.args[key];
    if (v === undefined) return undefined;
    return isNumberArray(v) ? v : this.wrong(key, 'an array of numbers');
  }

  /** A number, an array of numbers, or undefined. */
  numberOrNumbers(key: string): number | number[] | undefined {
    return typeof this.args[key] === 'number' ? this.number(key) : this.numbers(key);
  }

  /** PyTorch's int-or-pair arguments (kernel sizes, strides). */
  intOrPair(key: string): number | [number, number] | undefined {
    const v = this.numberOrNumbers(key);
    if (v === undefined || typeof v === 'number') return v;
    return v.length === 2 ? [v[0], v[1]] : this.wrong(key, 'a number or a pair');
  }

  boolean(key: string): boolean | undefined {
    const v = this.args[key];
    if (v === undefined) return undefined;
    return typeof v === 'boolean' ? v : this.wrong(key, 'a boolean');
  }

  string(key: string): string | undefined {
    const v = this.args[key];
    if (v === undefined) return undefined;
    return typeof v === 'string' ? v : this.wrong(key, 'a string');
  }
}
