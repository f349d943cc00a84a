/**
 * The differential harness: runs one case on the reference and the native backend (forward, then
 * backward with a random upstream gradient), compares every output and input gradient with the
 * op's tolerance (tolerances.ts), and turns a disagreement into a self-contained reproduction
 * that the regression tests replay.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadNativeBackend } from '../../src/backend/native/index.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { fromArray } from '../../src/ops/index.js';
import { knownIssue } from './known-issues.js';
import { type CaseBody, OPS, type OpSpec, opSpec } from './ops.js';
import { EPS32, toleranceOf } from './tolerances.js';
import { hasSpecial, materialize, maxAbs, minAbs, type TensorSpec, withValues } from './values.js';

export type BackendName = 'ref' | 'native';

/** One generated (or saved) call of an op. */
export interface Case extends CaseBody<object> {
  op: string;
  /** Seeds the upstream gradient (same shape as the output, standard normal). */
  gySeed: number;
}

/** What one backend produced: outputs by name (`y`, `grad.x`, ...) or the error it threw. */
export interface Outcome {
  error?: { name: string; message: string };
  outputs: Record<string, { shape: number[]; values: Float64Array }>;
  /**
   * Largest finite |value| of each input and of the upstream gradient `gy`, and as `min:name` the
   * smallest non-zero |value| of each input (for the tolerance).
   */
  maxAbs: Record<string, number>;
  shapes: Record<string, readonly number[]>;
}

export interface Disagreement {
  op: string;
  /** 'error': one backend threw and the other did not, or they threw differently. */
  kind: 'error' | 'outputs' | 'shape' | 'value';
  message: string;
  /** The case contains special values (NaN, ±Infinity, -0, huge or subnormal numbers). */
  special: boolean;
}

/** Why the native backend cannot be compared, or null when it loads. */
export function nativeMissing(): string | null {
  const n = loadNativeBackend();
  return 'error' in n ? n.error : null;
}

const isTensor = (v: unknown): v is Tensor => (v as { isTensor?: unknown } | null)?.isTensor === true;

/** Runs a case on one backend. Never throws: an error becomes part of the outcome. */
export function runCase(c: Case, backend: BackendName): Outcome {
  const spec = opSpec(c.op);
  const outputs: Outcome['outputs'] = {};
  const m: Record<string, number> = { gy: 0 };
  const shapes: Record<string, readonly number[]> = {};
  const read = (name: string, t: Tensor): void => {
    outputs[name] = { shape: [...t.shape], values: Float64Array.from(t.toArray()) };
  };
  try {
    scope(() => {
      const tensors: Record<string, Tensor> = {};
      for (const [name, s] of Object.entries(c.inputs)) {
        const values = materialize(s);
        m[name] = maxAbs(values);
        m[`min:${name}`] = minAbs(values);
        shapes[name] = s.shape;
        const t = fromArray(values, s.shape, { backend, dtype: s.dtype ?? 'float32' });
        if (c.grad && spec.grads?.includes(name)) t.requiresGrad = true;
        tensors[name] = t;
      }
      const result = spec.call(tensors, c.args, backend);
      const y = isTensor(result) ? result : result.y;
      read('y', y);
      if (!isTensor(result)) for (const [name, t] of Object.entries(result)) if (name !== 'y') read(name, t);
      if (c.grad && y.requiresGrad) {
        const gyValues = materialize({ shape: [...y.shape], seed: c.gySeed });
        m.gy = maxAbs(gyValues);
        y.backward(fromArray(gyValues, y.shape, { backend, dtype: y.dtype }));
        for (const name of Object.keys(tensors)) {
          const g = tensors[name].grad;
          if (g) read(`grad.${name}`, g);
        }
      }
    });
  } catch (e) {
    const error =
      e instanceof Error ? { name: e.constructor.name, message: e.message } : { name: 'thrown', message: String(e) };
    return { error, outputs, maxAbs: m, shapes };
  }
  return { outputs, maxAbs: m, shapes };
}

/** The largest finite float32. */
export const FLT32_MAX = 3.4028234663852886e38;

const fmt = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

/** Whether the case holds special values in its inputs or numeric arguments. */
export function isSpecialCase(c: Case): boolean {
  if (Object.values(c.inputs).some((s) => hasSpecial(materialize(s)))) return true;
  return JSON.stringify(c.args, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? 'special' : v)).includes(
    '"special"',
  );
}

/** Compares the two outcomes of a case; null when they agree. */
export function compareOutcomes(c: Case, ref: Outcome, native: Outcome): Disagreement | null {
  const base = { op: c.op, special: isSpecialCase(c) };
  if (ref.error || native.error) {
    const same =
      ref.error && native.error && ref.error.name === native.error.name && ref.error.message === native.error.message;
    if (same) return null;
    const show = (o: Outcome): string => (o.error ? `throws ${o.error.name}: ${o.error.message}` : 'does not throw');
    return { ...base, kind: 'error', message: `ref ${show(ref)}; native ${show(native)}` };
  }
  const keys = (o: Outcome): string => Object.keys(o.outputs).sort().join(', ');
  if (keys(ref) !== keys(native))
    return { ...base, kind: 'outputs', message: `ref gives [${keys(ref)}], native [${keys(native)}]` };
  const tol = toleranceOf(c.op);
  const spec = opSpec(c.op);
  let dotTerm = 0;
  let bound = 0;
  if (tol.dot > 0 && spec.dot) {
    const values = Object.fromEntries(Object.entries(c.inputs).map(([k, s]) => [k, materialize(s)]));
    const { k, mag, range } = spec.dot(ref.maxAbs, c.args, ref.shapes, values);
    dotTerm = tol.dot * Math.sqrt(Math.max(k, 1)) * mag * EPS32;
    bound = range ?? Math.max(k, 1) * mag;
  }
  // Sums whose terms may pass float32's range: native (float32 products and accumulation) may
  // overflow where the reference (float64, rounded once) does not, Inf - Inf makes NaN and x / Inf
  // makes 0: such cases are outside what float32 can compute, and every value matches.
  const mayOverflow = bound >= FLT32_MAX;
  for (const name of Object.keys(ref.outputs)) {
    const a = ref.outputs[name];
    const b = native.outputs[name];
    if (a.shape.join() !== b.shape.join())
      return { ...base, kind: 'shape', message: `${name}: shape [${a.shape}] on ref, [${b.shape}] on native` };
    let bad = 0;
    let first = -1;
    let allowedFirst = 0;
    for (let i = 0; i < a.values.length; i++) {
      const r = a.values[i];
      const n = b.values[i];
      const allowed = tol.atol + tol.rtol * Math.abs(r) + dotTerm;
      const ok =
        (Number.isNaN(r) && Number.isNaN(n)) ||
        r === n ||
        (Number.isFinite(r) && Number.isFinite(n) && Math.abs(n - r) <= allowed) ||
        mayOverflow;
      if (!ok) {
        if (first < 0) {
          first = i;
          allowedFirst = allowed;
        }
        bad++;
      }
    }
    if (bad > 0) {
      const r = a.values[first];
      const n = b.values[first];
      return {
        ...base,
        kind: 'value',
        message: `${name}[${first}] (shape [${a.shape}]): ref ${fmt(r)}, native ${fmt(n)}, |diff| ${fmt(Math.abs(n - r))} > ${allowedFirst.toExponential(2)}; ${bad} of ${a.values.length} elements disagree`,
      };
    }
  }
  return null;
}

/**
 * Makes a failing case easier to read: writes its values out, then sets every input element it
 * can to 0 (largest tensors last) while the backends still disagree the same way (same output,
 * same kind). Tensors of more than 256 elements are left as they are.
 */
export function simplify(c: Case, d: Disagreement): Case {
  const out = explicit(c);
  const same = (x: Disagreement | null): boolean =>
    x !== null && x.kind === d.kind && x.message.split('[')[0] === d.message.split('[')[0];
  for (const spec of Object.values(out.inputs)) {
    const values = spec.values ?? [];
    if (values.length > 256) continue;
    for (let i = 0; i < values.length; i++) {
      if (values[i] === 0) continue;
      const before = values[i];
      values[i] = 0;
      if (!same(differential(out))) values[i] = before;
    }
  }
  return out;
}

/** Runs a case on both backends and compares. */
export function differential(c: Case): Disagreement | null {
  return compareOutcomes(c, runCase(c, 'ref'), runCase(c, 'native'));
}

// ---------------------------------------------------------------- generation

export interface FuzzConfig {
  /** Fraction of cases with special values (when the op's `specialValues` allows them). */
  specialRate: number;
  /** Special values for every op, whatever the table's `specialValues` says. */
  allSpecials: boolean;
  /**
   * Written with each case before it runs (as a reproduction), so that a crash of the native
   * addon leaves behind the case that caused it.
   */
  lastCaseFile?: string;
  /** Run the cases of KNOWN_ISSUES too (by default they are skipped). */
  includeKnown?: boolean;
}

export const DEFAULT_CONFIG: FuzzConfig = { specialRate: 0.2, allSpecials: false };

/** Cases of one op: its arguments, an upstream-gradient seed, and (in some) special values. */
export function caseArbitrary(spec: OpSpec, cfg: FuzzConfig): fc.Arbitrary<Case> {
  const allowed = cfg.allSpecials || toleranceOf(spec.name).specialValues;
  const weight = Math.round(100 * cfg.specialRate);
  const special =
    allowed && weight > 0
      ? fc.oneof({ arbitrary: fc.constant(0), weight: 100 - weight }, { arbitrary: fc.constantFrom(0.1, 0.4), weight })
      : fc.constant(0);
  return fc.tuple(spec.arb(), fc.integer({ min: 0, max: 0x7fffffff }), special).map(([body, gySeed, fraction]) => ({
    op: spec.name,
    inputs: Object.fromEntries(
      Object.entries(body.inputs).map(([k, s]): [string, TensorSpec] => [
        k,
        fraction > 0 ? { ...s, special: fraction } : s,
      ]),
    ),
    args: body.args,
    grad: body.grad,
    gySeed,
  }));
}

export interface OpResult {
  op: string;
  /** Cases run before the failure (or all of them). */
  cases: number;
  /** The shrunk counterexample and what disagreed, when one was found. */
  failure?: { case: Case; disagreement: Disagreement; seed: number; path: string; shrinks: number };
}

/**
 * Runs `numRuns` cases of one op; on a disagreement fast-check shrinks the case (smaller shapes,
 * simpler arguments) and the smallest one comes back. `onCase` is called after every case run, shrinking ones included.
 */
export function fuzzOp(
  spec: OpSpec,
  numRuns: number,
  seed: number,
  cfg: FuzzConfig,
  onCase?: (agreed: boolean) => void,
): OpResult {
  const details = fc.check(
    fc.property(caseArbitrary(spec, cfg), (c) => {
      fc.pre(cfg.includeKnown === true || knownIssue(c) === undefined);
      if (cfg.lastCaseFile) writeFileSync(cfg.lastCaseFile, `${stringifyRepro(crashRepro(c))}\n`);
      const agreed = differential(c) === null;
      onCase?.(agreed);
      return agreed;
    }),
    { numRuns, seed, endOnFailure: false },
  );
  if (!details.failed || !details.counterexample) return { op: spec.name, cases: details.numRuns };
  const [shrunk] = details.counterexample;
  const found = differential(shrunk);
  const c = found ? simplify(shrunk, found) : shrunk;
  const disagreement = (found && differential(c)) ?? {
    op: spec.name,
    kind: 'value',
    message: `the property failed but the shrunk case agrees: ${String(details.errorInstance)}`,
    special: false,
  };
  return {
    op: spec.name,
    cases: details.numRuns,
    failure: {
      case: c,
      disagreement,
      seed: details.seed,
      path: details.counterexamplePath ?? '',
      shrinks: details.numShrinks,
    },
  };
}

export { OPS };

// ---------------------------------------------------------------- reproductions

/** A saved disagreement: the case with its values written out, so it replays without fast-check. */
export interface Repro {
  name: string;
  op: string;
  found: string;
  /** fast-check's seed and path of the shrunk case (`npm run fuzz -- --seed S --ops OP`). */
  seed: number;
  path: string;
  disagreement: string;
  special: boolean;
  case: Case;
}

export const FOUND_DIR = join(dirname(fileURLToPath(import.meta.url)), 'found');

/** The case with every input's values written out. */
export function explicit(c: Case): Case {
  return {
    ...c,
    inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, s]) => [k, withValues(s)])),
  };
}

/** JSON that keeps NaN, ±Infinity and -0 in arguments (values are already encoded). */
export function stringifyRepro(r: Repro): string {
  return JSON.stringify(
    r,
    (_k, v) => {
      if (typeof v !== 'number') return v;
      if (Number.isNaN(v)) return { number: 'NaN' };
      if (v === Number.POSITIVE_INFINITY) return { number: 'Infinity' };
      if (v === Number.NEGATIVE_INFINITY) return { number: '-Infinity' };
      if (Object.is(v, -0)) return { number: '-0' };
      return v;
    },
    2,
  );
}

export function parseRepro(text: string): Repro {
  return JSON.parse(text, (_k, v) => {
    if (
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.keys(v).length === 1 &&
      typeof v.number === 'string'
    ) {
      return { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY, '-0': -0 }[
        v.number as string
      ];
    }
    return v;
  }) as Repro;
}

/** A case that is running (and may crash the process). */
function crashRepro(c: Case): Repro {
  const message = 'the process died running this case (a crash of the native addon?)';
  return {
    name: `${c.op}-crash`,
    op: c.op,
    found: new Date().toISOString(),
    seed: 0,
    path: '',
    disagreement: message,
    special: isSpecialCase(c),
    case: c,
  };
}

/** Writes a reproduction under test/fuzz/found/ (or `dir`); returns the file's path. */
export function saveRepro(result: OpResult, dir = FOUND_DIR): string {
  if (!result.failure) throw new Error('nothing to save');
  const { case: c, disagreement, seed, path } = result.failure;
  const tag = `${disagreement.special ? 'special' : 'finite'}-${(seed >>> 0).toString(16)}`;
  const name = `${c.op}-${tag}`;
  const repro: Repro = {
    name,
    op: c.op,
    found: new Date().toISOString(),
    seed,
    path,
    disagreement: disagreement.message,
    special: disagreement.special,
    case: explicit(c),
  };
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${stringifyRepro(repro)}\n`);
  return file;
}

export function loadRepro(file: string): Repro {
  return parseRepro(readFileSync(file.includes('/') ? file : join(FOUND_DIR, file), 'utf8'));
}

/** Replays a saved case on both backends: null when they now agree. */
export function replay(file: string): Disagreement | null {
  return differential(loadRepro(file).case);
}
