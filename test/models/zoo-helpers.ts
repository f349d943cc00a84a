/** Helpers shared by the model-family tests. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nativeUnavailable } from '../../src/backend/registry.js';
import { traceOps } from '../../src/core/trace.js';
import type { ModelEntry } from '../../src/models/entry.js';
import type { TensorModule } from '../../src/nn/module.js';
import { zeros } from '../../src/ops/creation.js';

/** The registry entry called `name` in a family's list. */
export function entryIn(models: readonly ModelEntry[], name: string): ModelEntry {
  const e = models.find((m) => m.name === name);
  assert.ok(e, `no registry entry '${name}'`);
  return e;
}

/** Conv and linear multiply-adds of one forward pass of one image, counted on the meta backend. */
export function macsOf(model: TensorModule, input: readonly number[]): { macs: number; outShape: readonly number[] } {
  let macs = 0;
  const y = traceOps(
    (e) => (macs += e.macs),
    () => model.call(zeros([1, ...input], { backend: 'meta' })),
  );
  return { macs, outShape: y.shape };
}

/**
 * Where a test runs its one real forward pass of a whole zoo model: the reference backend up to
 * 3 GMACs, the native backend above when its addon loads. The deep VGGs, ResNets and DenseNets
 * take 15-40 s each on the reference backend, which the suite's ten minutes cannot hold; the
 * reference kernels they would run are checked op by op against PyTorch (test/golden) and native,
 * and whole models against torchvision's logits (zoo-logits.test.ts).
 */
export function forwardBackend(macs: number): 'ref' | 'native' {
  return macs > 3e9 && nativeUnavailable() === null ? 'native' : 'ref';
}

/** Elementwise agreement within a relative tolerance. */
export function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])), `element ${i}: ${a[i]} vs ${b[i]}`);
}

/** One test per model: parameters to the unit and GMACs to 3 decimals, as docs/architecture.md#published-reference-numbers has them. */
export function itMatchesPublished(
  models: readonly ModelEntry[],
  published: readonly (readonly [string, number, string])[],
): void {
  for (const [name, params, gmacs] of published) {
    it(`${name}: ${params.toLocaleString('en-US')} parameters, ${gmacs} GMACs`, () => {
      const model = entryIn(models, name).build({ backend: 'meta' });
      assert.equal(model.numParameters(), params);
      const { macs, outShape } = macsOf(model, [3, 224, 224]);
      assert.equal((macs / 1e9).toFixed(3), gmacs);
      assert.deepEqual(outShape, [1, 1000]);
    });
  }
}
