/**
 * RESULT_SIZES and resultDType are part of the kernel contract, and the meta backend is built from
 * them alone: here the reference backend, which computes real values, must return results of
 * exactly those sizes and dtypes for every kernel a small network's forward and backward reach.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KernelName, type Kernels, RESULT_SIZES, resultDType } from '../../src/backend/backend.js';
import { refBackend } from '../../src/backend/ref/index.js';
import { registerBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Storage } from '../../src/core/storage.js';
import * as ops from '../../src/ops/index.js';

/** State kept for a backward pass, which the contract leaves to each backend (see RESULT_SIZES). */
const OPAQUE = new Set(['workspace', 'reluMask', 'scale']);

/** A result as the contract describes it: each storage as [size, dtype], opaque state as present or null. */
function describeResult(out: unknown): unknown {
  if (out instanceof Storage) return [out.size, out.dtype];
  if (out === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(out as Record<string, Storage | null>).map(([k, s]) => [
      k,
      s === null ? null : OPAQUE.has(k) ? 'opaque' : [s.size, s.dtype],
    ]),
  );
}

/** The contract's description of the result of `name` for `args`. */
function contractResult(name: KernelName, args: object): unknown {
  const sizes = (RESULT_SIZES[name] as (a: object) => unknown)(args);
  const dtype = resultDType(args);
  if (typeof sizes === 'number') return [sizes, dtype];
  if (sizes === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(sizes as Record<string, number | null>).map(([k, n]) => [
      k,
      n === null ? null : OPAQUE.has(k) ? 'opaque' : [n, dtype],
    ]),
  );
}

const reached = new Set<KernelName>();
const checked = Object.fromEntries(
  (Object.keys(refBackend.kernels) as KernelName[]).map((name) => [
    name,
    (args: object) => {
      const out = (refBackend.kernels[name] as (a: object) => unknown)(args);
      assert.deepEqual(describeResult(out), contractResult(name, args), `${name}: reference result vs RESULT_SIZES`);
      reached.add(name);
      return out;
    },
  ]),
) as unknown as Kernels;
registerBackend({ ...refBackend, name: 'ref-contract', kernels: checked });

/** Forward and backward through most kernels: conv, norms, pools, layout ops, losses. */
function network(dtype: 'float32' | 'float64'): void {
  const opts = { backend: 'ref-contract', dtype } as const;
  const param = (shape: number[]) => ops.randn(shape, { ...opts, requiresGrad: true });
  const x = param([2, 3, 9, 9]);
  const conv = ops.conv2d(x, param([4, 3, 3, 3]), param([4]), { stride: 2, padding: 1 });
  const stats = { runningMean: ops.zeros([4], opts), runningVar: ops.ones([4], opts) };
  const bn = ops.relu(ops.batchNorm(conv, { weight: param([4]), bias: param([4]), ...stats }));
  const pooled = ops.maxPool2d(ops.addRelu(bn, conv), { kernelSize: 3, stride: 2, ceilMode: true });
  const lrn = ops.localResponseNorm(ops.pad(pooled, [1, 1, 1, 1]), { size: 3 });
  const avg = ops.avgPool2d(lrn, { kernelSize: 2, padding: 1 });
  const joined = ops.concat([ops.slice(avg, 1, 0, 2), ops.sigmoid(ops.adaptiveAvgPool2d(avg, 3))], 1);
  const flat = ops.reshape(ops.permute(joined, [0, 2, 3, 1]), [2, -1]);
  const hidden = ops.tanh(ops.linear(flat, param([5, flat.shape[1]]), param([5])));
  const scaled = ops.add(ops.mul(ops.exp(ops.dropout(hidden, { p: 0.2 })), 0.5), param([5]));
  const logits = ops.matmul(scaled, ops.expand(param([5, 1]), [5, 3]));
  const loss = ops.add(ops.crossEntropy(logits, [0, 2]), ops.mean(ops.softmax(logits, 1)));
  loss.backward();
  noGrad(() => {
    ops.argmax(logits, 1);
    ops.cast(logits, dtype === 'float32' ? 'float64' : 'float32');
    ops.batchNorm(conv, { ...stats, training: false });
    ops.concatBatchNorm([conv, conv], { runningMean: ops.zeros([8], opts), runningVar: ops.ones([8], opts) });
    ops.foldBatchNorm(param([4, 3, 3, 3]), null, { weight: null, bias: null, ...stats, eps: 1e-5 });
  });
}

describe('the kernel contract: result sizes', () => {
  for (const dtype of ['float32', 'float64'] as const)
    it(`the reference backend's ${dtype} results have the sizes and dtypes RESULT_SIZES and resultDType give`, (t) => {
      reached.clear();
      network(dtype);
      const missed = (Object.keys(RESULT_SIZES) as KernelName[]).filter((k) => !reached.has(k));
      t.diagnostic(`checked ${reached.size} kernels; not reached by this network: ${missed.join(', ')}`);
      assert.ok(reached.size >= 30, `expected the network to reach most kernels, reached ${[...reached].join(', ')}`);
    });

  it('resultDType takes the dtype argument first, then the first storage, and refuses neither', () => {
    const f32 = refBackend.write(new Float32Array(2), 'float32');
    assert.equal(resultDType({ x: f32, dtype: 'float64' }), 'float64');
    assert.equal(resultDType({ op: 'add', xs: [f32] }), 'float32');
    assert.throws(() => resultDType({ n: 3 }), /resultDType: expected kernel arguments with a dtype or a storage/);
  });
});
