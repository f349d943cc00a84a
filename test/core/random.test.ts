import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator } from '../../src/core/random.js';

/** The values the scalar methods give one at a time: the reference the bulk fills must equal. */
const oneByOne = (n: number, draw: () => number): Float32Array => Float32Array.from({ length: n }, draw);

describe('Generator bulk fills', () => {
  it('fillUniform gives the values and the state that uniform() gives one by one', () => {
    for (const [seed, n] of [
      [0, 1],
      [7, 1000],
      [2 ** 32 - 1, 4097],
    ]) {
      const scalar = new Generator(seed);
      const bulk = new Generator(seed);
      const expected = oneByOne(n, () => -0.25 + (0.75 - -0.25) * scalar.uniform());
      const got = new Float32Array(n);
      bulk.fillUniform(got, -0.25, 0.75);
      assert.deepEqual(got, expected, `seed ${seed}, ${n} values`);
      assert.deepEqual(bulk.getState(), scalar.getState());
    }
  });

  it('fillNormal continues normal()’s sequence: the kept second of a pair, odd lengths, mixed calls', () => {
    const scalar = new Generator(42);
    const bulk = new Generator(42);
    // Odd and even lengths, a scalar call between (it takes the spare a fill kept), an empty fill,
    // and more values than fillNormal draws uniforms for at once.
    for (const n of [3, 1, 0, 10, 7, 2, 150_001]) {
      const expected = oneByOne(n, () => 0.5 + 2 * scalar.normal());
      const got = new Float32Array(n);
      assert.equal(bulk.fillNormal(got, 0.5, 2), n);
      assert.deepEqual(got, expected, `${n} values`);
      assert.equal(bulk.normal(), scalar.normal());
      assert.deepEqual(bulk.getState(), scalar.getState());
    }
    const f64 = new Float64Array(5);
    const reference = new Generator(3);
    new Generator(3).fillNormal(f64);
    assert.deepEqual(
      Array.from(f64),
      Array.from({ length: 5 }, () => reference.normal()),
    );
  });

  it('fillNormal with bounds redraws values outside them, as a rejection loop over normal() does', () => {
    const scalar = new Generator(5);
    const expected = oneByOne(2000, () => {
      for (;;) {
        const v = 0.1 * scalar.normal();
        if (v >= -0.05 && v <= 0.2) return v;
      }
    });
    const bulk = new Generator(5);
    const got = new Float32Array(2000);
    assert.equal(bulk.fillNormal(got, 0, 0.1, { lo: -0.05, hi: 0.2, maxTries: 100 }), 2000);
    assert.deepEqual(got, expected);
    assert.deepEqual(bulk.getState(), scalar.getState());
    // Bounds 40 standard deviations out: no value lands, so it stops at the first and says so.
    assert.equal(new Generator(5).fillNormal(new Float32Array(4), 0, 1, { lo: 40, hi: 41, maxTries: 50 }), 0);
  });

  it('a seed gives the same sequence again, and another seed another one', () => {
    const draw = (seed: number): Float32Array => {
      const out = new Float32Array(64);
      new Generator(seed).fillNormal(out);
      return out;
    };
    assert.deepEqual(draw(9), draw(9));
    assert.notDeepEqual(draw(9), draw(10));
  });
});
