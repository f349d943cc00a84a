/**
 * The differential test that stays (issue #15): a few generated cases of every op, with a fixed
 * seed, on the reference and the native backend, forward and backward, compared with the op's
 * tolerance (test/fuzz/tolerances.ts). `npm run fuzz` runs the same properties at length.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Case,
  compareOutcomes,
  DEFAULT_CONFIG,
  fuzzOp,
  nativeMissing,
  OPS,
  type Outcome,
  stringifyRepro,
} from './harness.js';
import { hasPaddingOnlyWindow } from '../../src/backend/native/conv.js';
import { conv2dGeometry } from '../../src/ops/index.js';
import { knownIssue } from './known-issues.js';
import { EPS32, TOLERANCES } from './tolerances.js';

/** Fixed, so the suite is repeatable; `npm run fuzz -- --seed N` explores others. */
const SEED = 20261205;
/** Cases per op: about 250 in all, a few seconds. */
const PER_OP = 4;

const missing = nativeMissing();
const skip = missing ? `native backend unavailable: ${missing}` : false;
if (missing) console.log(`# test/fuzz/differential.test.ts skipped: ${skip}`);

describe('differential fuzzing, ref against native', { skip }, () => {
  for (const spec of OPS) {
    it(`${spec.name}: ${PER_OP} generated cases agree`, () => {
      const r = fuzzOp(spec, PER_OP, SEED, DEFAULT_CONFIG);
      if (!r.failure) return;
      const { case: c, disagreement: d, seed, path } = r.failure;
      const repro = stringifyRepro({
        name: spec.name,
        op: spec.name,
        found: new Date().toISOString(),
        seed,
        path,
        disagreement: d.message,
        special: d.special,
        case: c,
      });
      assert.fail(
        `${spec.name} disagrees (${d.special ? 'special values' : 'finite values'}): ${d.message}\n` +
          `Save this as test/fuzz/found/<name>.json and add it to test/fuzz/regressions.test.ts:\n${repro}`,
      );
    });
  }
});

// The comparison itself, on made-up outcomes (no backend needed).
describe('differential comparison rules', () => {
  const c: Case = { op: 'relu', inputs: {}, args: {}, grad: false, gySeed: 0 };
  const outcome = (values: number[], shape = [values.length]): Outcome => ({
    outputs: { y: { shape, values: Float64Array.from(values) } },
    maxAbs: {},
    shapes: {},
  });

  it('NaN matches NaN, an infinity the same infinity, -0 matches 0', () => {
    const v = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1.5];
    assert.equal(compareOutcomes(c, outcome(v), outcome([Number.NaN, Infinity, -Infinity, 0, 1.5])), null);
  });

  it('NaN against a number, or an infinity against the other one, disagrees', () => {
    assert.match(compareOutcomes(c, outcome([Number.NaN]), outcome([0]))?.message ?? '', /ref NaN, native 0/);
    assert.notEqual(compareOutcomes(c, outcome([Infinity]), outcome([-Infinity])), null);
  });

  it('exact ops allow no difference; tolerant ones atol + rtol * |ref|', () => {
    assert.notEqual(compareOutcomes(c, outcome([1]), outcome([1 + EPS32])), null);
    const sq: Case = { ...c, op: 'sqrt' };
    assert.equal(compareOutcomes(sq, outcome([1]), outcome([1 + EPS32])), null);
    assert.notEqual(compareOutcomes(sq, outcome([1]), outcome([1 + 4 * EPS32])), null);
  });

  it('shapes, output names and thrown errors must agree', () => {
    assert.equal(compareOutcomes(c, outcome([1, 2], [2]), outcome([1, 2], [1, 2]))?.kind, 'shape');
    const thrown = (message: string): Outcome => ({
      error: { name: 'ShapeError', message },
      outputs: {},
      maxAbs: {},
      shapes: {},
    });
    assert.equal(compareOutcomes(c, thrown('a'), thrown('a')), null);
    assert.equal(compareOutcomes(c, thrown('a'), outcome([1]))?.kind, 'error');
    assert.equal(compareOutcomes(c, thrown('a'), thrown('b'))?.kind, 'error');
  });

  it('every op has a tolerance', () => {
    for (const spec of OPS) assert.ok(TOLERANCES[spec.name], `no tolerance for ${spec.name}`);
  });

  it('the fixed conv2d crash is no longer skipped, and native routes its geometry off the fused kernel', () => {
    const crash: Case = {
      op: 'conv2dFused',
      inputs: {
        x: { shape: [1, 1, 3, 3], seed: 0 },
        w: { shape: [1, 1, 1, 1], seed: 0 },
        addend: { shape: [1, 1, 5, 3], seed: 0 },
      },
      args: { padding: [1, 1, 0, 0], relu: true },
      grad: false,
      gySeed: 0,
    };
    assert.equal(knownIssue(crash), undefined);
    const g = conv2dGeometry([1, 1, 3, 3], [1, 1, 1, 1], { padding: [1, 1, 0, 0] });
    assert.equal(hasPaddingOnlyWindow(g), true);
    assert.equal(hasPaddingOnlyWindow(conv2dGeometry([1, 1, 3, 3], [1, 1, 3, 3], { padding: [1, 1, 1, 1] })), false);
  });
});
