/**
 * Intermediates freed as soon as the next call has used them (src/nn/intermediates.ts): under
 * noGrad only, never the caller's input or a tensor passed through, never while calls are traced;
 * the values stay those of a pass that frees nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { buildModel } from '../../src/models/registry.js';
import * as nn from '../../src/nn/index.js';
import { traceModules } from '../../src/nn/trace-modules.js';
import * as ops from '../../src/ops/index.js';

setBackend('ref');

/** Doubles its input and keeps what it was given and what it made. */
class Probe extends nn.Module {
  readonly seen: Tensor[] = [];
  readonly made: Tensor[] = [];
  forward(x: Tensor): Tensor {
    this.seen.push(x);
    const y = ops.mul(x, 2);
    this.made.push(y);
    return y;
  }
}

const input = (): Tensor => ops.fromArray([1, -2, 3, 0.5], [1, 4]);

describe('freeing intermediates', () => {
  it('a Sequential frees each intermediate once the next layer has used it, under noGrad', () => {
    const [a, b, c] = [new Probe(), new Probe(), new Probe()];
    const seq = new nn.Sequential(a, new nn.Identity(), b, c);
    const x = input();
    const y = noGrad(() => seq.call(x));
    assert.deepEqual(y.toArray(), Float32Array.from([8, -16, 24, 4]));
    assert.equal(x.disposed, false, "the caller's input is kept");
    assert.equal(y.disposed, false, 'the result is kept');
    // a's output went through the Identity unchanged and was freed only after b used it.
    assert.equal(b.seen[0], a.made[0]);
    assert.equal(a.made[0].disposed, true);
    assert.equal(b.made[0].disposed, true);
  });

  it('frees nothing where a graph or a tracer may hold the intermediates', () => {
    const [a, b] = [new Probe(), new Probe()];
    const seq = new nn.Sequential(a, b);
    seq.call(input());
    assert.equal(a.made[0].disposed, false, 'with grad enabled');
    noGrad(() => traceModules({}, () => seq.call(input())));
    assert.equal(a.made[1].disposed, false, 'while module calls are traced');
  });

  it("a Concat frees its branches' outputs once joined", () => {
    const [a, b] = [new Probe(), new Probe()];
    const join = new nn.Concat([a, b]);
    const x = input();
    const y = noGrad(() => join.call(x));
    assert.deepEqual(y.toArray(), Float32Array.from([2, -4, 6, 1, 2, -4, 6, 1]));
    assert.equal(x.disposed, false);
    assert.ok(a.made[0].disposed && b.made[0].disposed);
  });

  for (const name of ['googlenet', 'densenet_bc_100_cifar'] as const) {
    it(`${name} under noGrad gives what it gives with grad enabled`, () => {
      const model = buildModel(name, { backend: 'ref' });
      model.eval();
      const size = name === 'googlenet' ? 48 : 16;
      const rng = new Generator(2);
      const x = ops.fromArray(
        Float32Array.from({ length: 3 * size * size }, () => rng.uniform() * 2 - 1),
        [1, 3, size, size],
        { backend: 'ref' },
      );
      // Unfused, so both passes run the same kernels (fused inference folds batch norms: other rounding).
      const fused = nn.inferenceFusionEnabled();
      nn.setInferenceFusion(false);
      try {
        const freed = noGrad(() => model.call(x)).toArray();
        assert.equal(x.disposed, false);
        assert.deepEqual(freed, model.call(x).toArray());
      } finally {
        nn.setInferenceFusion(fused);
      }
    });
  }
});
