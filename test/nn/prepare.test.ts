/**
 * nn.prepare: one throwaway inference pass that leaves the model as it was. Its output afterwards
 * is checked against an unprepared twin built from the same seed (bit for bit: the same kernels
 * run, direct convs on both), and its parameters and batch-norm statistics against their values before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resetSettings } from '../../src/core/config.js';
import { nativeSkipReason } from '../backend/native-helpers.js';
import { isGradEnabled, noGrad } from '../../src/core/grad-mode.js';
import { ArgumentError } from '../../src/core/errors.js';
import { Generator } from '../../src/core/random.js';
import { scope } from '../../src/core/scope.js';
import { prepare } from '../../src/nn/prepare.js';
import { randn } from '../../src/ops/creation.js';
import { Net } from './small-net.js';

const snapshot = (net: Net): Map<string, number[]> =>
  new Map([...net.stateDict().entries()].map(([k, t]) => [k, Array.from(t.toArray())]));

for (const backend of ['ref', 'native']) {
  const skip = backend === 'native' ? nativeSkipReason('test/nn/prepare.test.ts') : false;
  describe(`nn.prepare on the ${backend} backend`, { skip }, () => {
    // Direct convs on both nets: under `tune` the prepared net's later passes may run Winograd
    // (chosen by timing on this machine) while the twin's first pass runs direct, and the two round
    // differently; one CI run failed that way.
    const saved = process.env.CONVKIT_CONV_ALGORITHM;
    before(() => {
      process.env.CONVKIT_CONV_ALGORITHM = 'direct';
      resetSettings();
    });
    after(() => {
      if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
      else process.env.CONVKIT_CONV_ALGORITHM = saved;
      resetSettings();
    });
    it('leaves outputs, parameters, buffers, training mode and grad mode as they were', () => {
      const prepared = new Net({ backend, generator: new Generator(7) });
      const twin = new Net({ backend, generator: new Generator(7) });
      const before = snapshot(prepared);
      assert.equal(prepared.training, true);

      prepare(prepared, [2, 3, 16, 16]);
      assert.equal(prepared.training, true, 'training mode restored');
      assert.equal(isGradEnabled(), true, 'grad mode still on');
      noGrad(() => {
        prepare(prepared.eval(), [1, 3, 16, 16]);
        assert.equal(isGradEnabled(), false, 'grad mode still off inside noGrad');
      });
      assert.equal(prepared.training, false, 'eval mode kept');
      assert.deepEqual(snapshot(prepared), before, 'no parameter or running statistic moved');

      twin.eval();
      const x = randn([2, 3, 16, 16], { backend, generator: new Generator(1) });
      const [ours, theirs] = scope(() => noGrad(() => [prepared.call(x).toArray(), twin.call(x).toArray()]));
      assert.deepEqual(Array.from(ours), Array.from(theirs));
    });

    it('names a bad input shape', () => {
      const net = new Net({ backend, generator: new Generator(7) });
      assert.throws(() => prepare(net, [1, 3, 0, 16]), ArgumentError);
      assert.throws(() => prepare(net, [1, 3, 16]), /expected 4-d|4 dimensions|shape|rank/i);
      assert.equal(net.training, true, 'training mode restored after a failed pass');
    });
  });
}
