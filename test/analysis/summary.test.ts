import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { summarize, rowsToDepth } from '../../src/analysis/summary.js';
import type { Tensor } from '../../src/core/tensor.js';
import { tinyCnn } from '../../src/models/tiny-cnn.js';
import * as nn from '../../src/nn/index.js';
import { add } from '../../src/ops/arithmetic.js';

const meta = <T>(fn: () => T): T => withBackend('meta', fn);

describe('summary rows', () => {
  it('lists module calls in pre-order with depth, path, type and output shape (torchinfo order)', () => {
    const s = summarize(
      meta(() => tinyCnn({ width: 8 })),
      { input: [1, 16, 16] },
    );
    assert.deepEqual(
      s.rows.slice(0, 7).map((r) => [r.path, r.type, r.depth]),
      [
        ['', 'Sequential', 0],
        ['stem', 'Sequential', 1],
        ['stem.0', 'Sequential', 2],
        ['stem.0.0', 'Conv2d', 3],
        ['stem.0.1', 'BatchNorm2d', 3],
        ['stem.1', 'ReLU', 2],
        ['stem.2', 'MaxPool2d', 2],
      ],
    );
    const byPath = new Map(s.rows.map((r) => [r.path, r]));
    assert.deepEqual(byPath.get('stem')?.outputShape, [1, 8, 8, 8]);
    assert.deepEqual(byPath.get('classifier')?.outputShape, [1, 4]);
    assert.deepEqual(byPath.get('stem.0.0')?.window, {
      kernel: [3, 3],
      stride: [1, 1],
      padding: [1, 1],
      dilation: [1, 1],
      groups: 1,
    });
    assert.deepEqual(byPath.get('stem.2')?.window?.stride, [2, 2]);
    assert.equal(byPath.get('stem.1')?.window, null);
    assert.equal(
      s.rows.find((r) => r.parent !== null && s.rows[r.parent].path !== r.path.split('.').slice(0, -1).join('.')),
      undefined,
      'parent indices point at the enclosing call',
    );
  });

  it('reports groups of a grouped convolution (weight [out, in / groups, k, k])', () => {
    const s = summarize(
      meta(() => new nn.Sequential(new nn.Conv2d(4, 6, 3, { groups: 2 }))),
      { input: [4, 5, 5] },
    );
    assert.equal(s.rows[1].window?.groups, 2);
    assert.equal(s.rows[1].params, 6 * 2 * 9 + 6);
  });

  it('counts parameters and buffers apart: BatchNorm2d has 2 parameter tensors and 3 buffers, num_batches_tracked included', () => {
    const s = summarize(
      meta(() => new nn.Sequential(new nn.BatchNorm2d(3))),
      { input: [3, 4, 4] },
    );
    const bn = s.rows[1];
    assert.equal(bn.ownParams, 6, 'weight and bias, 3 each');
    assert.equal(bn.ownBuffers, 7, 'running_mean 3, running_var 3, num_batches_tracked 1');
    assert.deepEqual([s.totals.params, s.totals.trainableParams, s.totals.buffers], [6, 6, 7]);
    assert.deepEqual([s.totals.paramBytes, s.totals.bufferBytes], [24, 28]);
  });

  it('counts MACs of conv and linear by hand, bias excluded, and FLOPs as twice that', () => {
    // tinyCnn(width 8) on 1x16x16: stem 3x3 1->8 at 16x16: 9*1*8*256 = 18,432; residual two 3x3 8->8 at 8x8:
    // 2 * 9*8*8*64 = 73,728; inception 1x1 8->4 twice: 2 * 8*4*64 = 4,096, 3x3 4->4: 9*4*4*64 = 9,216;
    // linear 8->4: 32. Total 105,504.
    const s = summarize(
      meta(() => tinyCnn({ width: 8 })),
      { input: [1, 16, 16] },
    );
    assert.equal(s.totals.macs, 105_504);
    assert.equal(s.totals.flops, 211_008);
    const byPath = new Map(s.rows.map((r) => [r.path, r]));
    assert.equal(byPath.get('residual')?.macs, 73_728);
    assert.equal(byPath.get('inception')?.macs, 4_096 + 9_216);
    assert.equal(byPath.get('inception')?.ownMacs, 0, 'concatenation itself multiplies nothing');
    assert.equal(byPath.get('')?.macs, 105_504);
    // Batch 3 triples every MAC.
    assert.equal(
      summarize(
        meta(() => tinyCnn({ width: 8 })),
        { input: [1, 16, 16], batch: 3 },
      ).totals.macs,
      3 * 105_504,
    );
  });

  it('folds rows deeper than the depth into their ancestors, whose counts already hold them', () => {
    const s = summarize(
      meta(() => tinyCnn({ width: 8 })),
      { input: [1, 16, 16] },
    );
    const top = rowsToDepth(s.rows, 1);
    assert.deepEqual(
      top.map((r) => r.path),
      ['', 'stem', 'residual', 'inception', 'pool', 'flatten', 'classifier'],
    );
    // residual: two convs 8*8*9 = 576 each plus two BNs of 16: 1,184.
    assert.equal(top[2].params, 1_184);
    assert.equal(top[2].buffers, 2 * 17);
    assert.equal(
      top.reduce((n, r) => n + (r.depth === 1 ? r.params : 0), 0),
      s.totals.params,
    );
    assert.deepEqual(
      rowsToDepth(s.rows, 0).map((r) => r.path),
      [''],
    );
  });

  it('shows a module called twice on two rows, marked repeated, and counts its weights once', () => {
    class Twice extends nn.Module {
      readonly conv = this.registerModule('conv', new nn.Conv2d(2, 2, 1, { bias: false }));
      forward(x: Tensor): Tensor {
        return add(this.conv.call(x), this.conv.call(x));
      }
    }
    const s = summarize(
      meta(() => new Twice()),
      { input: [2, 3, 3] },
    );
    assert.deepEqual(
      s.rows.map((r) => [r.path, r.repeated]),
      [
        ['', false],
        ['conv', false],
        ['conv', true],
      ],
    );
    assert.equal(s.totals.params, 4);
    assert.equal(s.totals.macs, 2 * 4 * 9);
  });

  it("runs in eval mode by default and restores every module's mode; reports modules the pass did not call", () => {
    class WithAux extends nn.Module {
      readonly main = this.registerModule('main', new nn.Conv2d(1, 1, 1));
      readonly aux = this.registerModule('aux', new nn.Linear(4, 2));
      forward(x: Tensor): Tensor {
        if (this.training) this.aux.call(x);
        return this.main.call(x);
      }
    }
    const model = meta(() => new WithAux());
    model.aux.eval();
    const s = summarize(model, { input: [1, 2, 4] });
    assert.equal(s.mode, 'eval');
    assert.deepEqual(s.unused, [{ path: 'aux', type: 'Linear', params: 10 }]);
    assert.equal(s.totals.params, 2 + 10, 'totals still count every parameter, as parameters() does');
    assert.equal(model.training, true);
    assert.equal(model.aux.training, false);
    const trained = summarize(model, { input: [1, 2, 4], mode: 'train' });
    assert.deepEqual(trained.unused, []);
    assert.equal(trained.totals.macs, 2 * 4 + 1 * 2 * 4 * 2, 'conv 1x1 on 2x4, plus linear 4->2 on 2 rows');
  });

  it('analyses a submodule with paths relative to it', () => {
    const model = meta(() => tinyCnn({ width: 8 }));
    const inner = model.get('residual');
    assert.ok(inner);
    const s = summarize(inner, { input: [8, 8, 8] });
    assert.deepEqual(
      s.rows.slice(0, 3).map((r) => r.path),
      ['', 'body', 'body.0'],
    );
  });

  it('propagates op errors that name the layer (an input too small for the network)', () => {
    const model = meta(() => new nn.Sequential(new nn.Conv2d(1, 1, 3), new nn.Conv2d(1, 1, 3)));
    assert.throws(() => summarize(model, { input: [1, 4, 4] }), /conv2d \(1\)/);
  });
});

describe('training memory estimate', () => {
  it('adds parameters, gradients, optimiser state, buffers and saved activations, by hand', () => {
    // conv 3x3 1->2 (18 weights) and linear 32->3 (96 weights), no biases: 114 params = 456 bytes.
    // Forward tensors at batch 2 on a 1x4x4 input: input 32, conv 64, relu 64, linear 6 elements
    // (flatten is a view of the ReLU output: same storage, counted once): 166 * 4 = 664 bytes.
    const model = meta(
      () =>
        new nn.Sequential(
          new nn.Conv2d(1, 2, 3, { padding: 1, bias: false }),
          new nn.ReLU(),
          new nn.Flatten(),
          new nn.Linear(32, 3, { bias: false }),
        ),
    );
    const adam = summarize(model, { input: [1, 4, 4], batch: 2, optimizer: 'adam' }).memory;
    assert.deepEqual(adam, {
      batch: 2,
      optimizer: 'adam',
      optimizerSlots: 2,
      parameterBytes: 456,
      gradientBytes: 456,
      optimizerStateBytes: 912,
      bufferBytes: 0,
      activationBytes: 664,
      totalBytes: 456 + 456 + 912 + 664,
    });
    const sgd = summarize(model, { input: [1, 4, 4], batch: 2, optimizer: 'sgd' }).memory;
    assert.equal(sgd.optimizerStateBytes, 0);
    assert.equal(
      summarize(model, { input: [1, 4, 4], batch: 2 }).memory.optimizerStateBytes,
      456,
      'default: SGD with momentum, one slot',
    );
  });

  it('gives frozen parameters no gradient and no optimiser state', () => {
    const model = meta(
      () => new nn.Sequential(new nn.Linear(4, 4, { bias: false }), new nn.Linear(4, 1, { bias: false })),
    );
    model.at(0).parameters()[0].requireGrad(false);
    const m = summarize(model, { input: [4], optimizer: 'adam' }).memory;
    assert.deepEqual([m.parameterBytes, m.gradientBytes, m.optimizerStateBytes], [80, 16, 32]);
  });
});
