/**
 * convkit's own loop for nn.Linear's forward on 1 to 16 rows (native/src/small_linear.cc, chosen
 * by linear-choice.ts): with CONVKIT_CONV_ALGORITHM=own, against the reference backend on row
 * counts around its blocks of 4 (2 on AVX2 builds), input widths around its vectors, output counts
 * around its blocks of 4, with and without bias and ReLU; non-finite values exactly where
 * oneDNN's inner product has them (a NaN the ReLU keeps, infinity times zero); more than 16 rows
 * left to oneDNN; and `tune` timing both from a weight's second forward. Also: a training forward
 * has oneDNN read the weights as stored (they change at every step), an inference one converted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tuningCacheOf } from '../../src/backend/native/conv-algorithm.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { type LinearPlan, takeLinearNote } from '../../src/backend/native/linear-choice.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, nativeSkipReason, restoreEnvAfter, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-small-linear');
const dir = mkdtempSync(join(tmpdir(), 'convkit-small-linear-'));
const tuningFile = join(dir, 'tuning.json');
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM', 'CONVKIT_TUNING_CACHE']);
process.env.CONVKIT_TUNING_CACHE = tuningFile;
after(() => rmSync(dir, { recursive: true, force: true }));
function useAlgorithm(algorithm: string): void {
  process.env.CONVKIT_CONV_ALGORITHM = algorithm;
  resetSettings();
}

/** linear(x, w, b) on `backend` from seeded values (or the given ones). */
function linearOn(
  backend: string,
  [rows, inF, outF]: readonly number[],
  opts: { bias: boolean; relu: boolean },
  values?: { x: Float32Array; w: Float32Array },
): Float32Array {
  const x = ops.fromArray(values?.x ?? seededValues(rows * inF, rows + inF), [rows, inF], { backend });
  const w = ops.fromArray(values?.w ?? seededValues(outF * inF, outF + 7 * inF), [outF, inF], { backend });
  const b = opts.bias ? ops.fromArray(seededValues(outF, outF), [outF], { backend }) : null;
  return Float32Array.from(noGrad(() => ops.linear(x, w, b, { relu: opts.relu })).toArray());
}

describe("convkit's own small-batch linear loop", () => {
  const SHAPES = [
    [1, 40, 24],
    [3, 17, 5],
    [4, 16, 4],
    [5, 15, 3],
    [8, 1000, 7],
    [16, 33, 1],
    [2, 1, 6],
  ];
  for (const shape of SHAPES) {
    for (const opts of [
      { bias: true, relu: false },
      { bias: false, relu: true },
    ]) {
      it(`${shape[0]} rows, ${shape[1]} -> ${shape[2]} features, bias ${opts.bias}, ReLU ${opts.relu}: as the reference`, {
        skip,
      }, () => {
        useAlgorithm('own');
        const expected = linearOn('ref', shape, opts);
        assertClose(`linear ${shape}`, linearOn('native', shape, opts), expected);
        assert.match(takeLinearNote(nativeRuntime()) ?? '', /^own convkit:small_linear/, 'the own loop ran');
      });
    }
  }

  it('gives NaN and infinities where oneDNN inner product does (ReLU keeps NaN; inf times 0 is NaN)', { skip }, () => {
    const shape = [3, 20, 6];
    const x = seededValues(60, 1);
    const w = seededValues(120, 2);
    x[5] = Number.NaN; // row 0: NaN in every output
    x[20 + 3] = Number.POSITIVE_INFINITY; // row 1: +-inf where the weight is nonzero
    w[3 * 20 + 3] = 0; // ... and NaN for output 3
    for (const opts of [
      { bias: true, relu: false },
      { bias: true, relu: true },
    ]) {
      useAlgorithm('direct');
      const expected = linearOn('native', shape, opts, { x, w });
      useAlgorithm('own');
      const actual = linearOn('native', shape, opts, { x, w });
      assert.ok(
        expected.some((v) => Number.isNaN(v)) && expected.some((v) => v === Number.POSITIVE_INFINITY || v === 0),
      );
      for (let i = 0; i < expected.length; i++) {
        if (Number.isFinite(expected[i])) assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-4, `output ${i}`);
        else assert.ok(Object.is(actual[i], expected[i]), `output ${i} is ${actual[i]}, oneDNN's ${expected[i]}`);
      }
    }
  });

  it('leaves more than 16 rows to oneDNN', { skip }, () => {
    useAlgorithm('own');
    const before = new Set(nativeRuntime().planKeys());
    linearOn('native', [17, 40, 24], { bias: true, relu: false });
    const made = [...nativeRuntime().planKeys()].filter((k) => !before.has(k));
    assert.ok(
      made.some((k) => k.startsWith('linear:17,')),
      `made ${made.join(' ')}`,
    );
    assert.ok(!made.some((k) => k.startsWith('smallLinear:')), `made ${made.join(' ')}`);
  });

  it('a training forward reads the weights as stored, an inference forward converts them once', { skip }, () => {
    useAlgorithm('direct');
    const rt = nativeRuntime();
    const shape = [24, 40, 24];
    const x = ops.fromArray(seededValues(24 * 40, 5), [24, 40], { backend: 'native' });
    const w = ops.fromArray(seededValues(24 * 40, 6), [24, 40], { backend: 'native', requiresGrad: true });
    const b = ops.fromArray(seededValues(24, 24), [24], { backend: 'native', requiresGrad: true }); // linearOn's bias
    const weightsOf = (key: string): boolean =>
      rt.descInfo(rt.plan<LinearPlan>(key, () => assert.fail(`no plan ${key}`)).weights).plain;
    const training = Float32Array.from(ops.linear(x, w, b).toArray());
    assert.equal(weightsOf('linear:24,40,24,1,0,plain'), true, 'the training plan converts the weights');
    const inference = Float32Array.from(noGrad(() => ops.linear(x, w, b)).toArray());
    assert.equal(
      weightsOf('linear:24,40,24,1,0'),
      false,
      "oneDNN's own layout for inference (the check could not fail)",
    );
    const expected = linearOn(
      'ref',
      shape,
      { bias: true, relu: false },
      { x: seededValues(24 * 40, 5), w: seededValues(24 * 40, 6) },
    );
    assertClose('training forward', training, expected);
    assertClose('inference forward', inference, expected);
  });

  it('tune: a weight first runs oneDNN untimed, then both are timed and the choice kept', { skip }, () => {
    useAlgorithm('tune');
    const rt = nativeRuntime();
    const x = ops.fromArray(seededValues(2 * 1500, 3), [2, 1500], { backend: 'native' });
    const w = ops.fromArray(seededValues(2000 * 1500, 4), [2000, 1500], { backend: 'native' });
    const key = `linear:2,1500,2000,0,0:t${rt.addon.getThreads()}`;
    noGrad(() => ops.linear(x, w, null)).dispose();
    assert.equal(tuningCacheOf(rt).get(key), undefined, 'measured at the first forward');
    noGrad(() => ops.linear(x, w, null)).dispose();
    // In the file unless other work held the cores meanwhile (then in memory only, as for convs).
    const entry = tuningCacheOf(rt).get(key);
    assert.ok(entry !== undefined, `no choice for ${key}`);
    assert.ok(entry.ms.direct && entry.ms.own, `${key}: ${JSON.stringify(entry)}`);
    assert.ok(['direct', 'own'].includes(entry.algorithm));
  });
});
