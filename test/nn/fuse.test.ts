/**
 * The fusion pass (src/nn/fuse.ts): after nn.fuse(), in eval mode under noGrad,
 * conv+BN(+ReLU)(+residual sum) and BN+ReLU run as single kernels, and in training BN+ReLU does.
 * The fused network must equal the unfused one, take the fused path (no batch-norm or ReLU ops
 * left in the trace), notice changed weights, and report what it fused. Whole zoo models, fused
 * against unfused on both backends: test/models/fusion-equivalence.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { Generator } from '../../src/core/random.js';
import type { Shape } from '../../src/core/shape.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import { traceOps } from '../../src/core/trace.js';
import { Bottleneck, BasicBlock } from '../../src/models/resnet-blocks.js';
import { DenseBlock } from '../../src/models/densenet-blocks.js';
import { buildModel } from '../../src/models/registry.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { SGD } from '../../src/train/sgd.js';

after(() => {
  nn.setInferenceFusion(true);
  nn.setTrainingFusion(true);
});

/** Random affine parameters and running statistics, so that folding has something to fold. */
function randomizeBatchNorms(model: nn.Module<never, unknown>, seed: number): void {
  const g = new Generator(seed);
  for (const m of model.modules()) {
    if (!(m instanceof nn.BatchNorm2d) || !m.runningMean || !m.runningVar) continue;
    const c = m.numFeatures;
    const opts = { generator: g, dtype: m.runningMean.dtype, backend: m.runningMean.backend.name };
    m.runningMean.assign(ops.normal([c], 0, 0.2, opts));
    m.runningVar.assign(ops.uniform([c], 0.5, 1.5, opts));
    m.weight?.assign(ops.uniform([c], 0.5, 1.5, opts));
    m.bias?.assign(ops.normal([c], 0, 0.2, opts));
  }
}

/** The output and the op names of one eval-mode, no-grad forward, fused or not. */
function run(model: nn.Module<Tensor, Tensor>, x: Tensor, fused: boolean): { y: number[]; ops: string[] } {
  nn.setInferenceFusion(fused);
  const names: string[] = [];
  const y = noGrad(() =>
    traceOps(
      (e) => names.push(e.op),
      () => model.call(x),
    ),
  );
  return { y: [...y.toArray()], ops: names };
}

function assertClose(a: number[], b: number[], tol: number): void {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  assert.ok(worst <= tol, `fused and unfused differ by ${worst} (relative), more than ${tol}`);
}

function checkFusion(model: nn.Module<Tensor, Tensor>, x: Tensor, tol: number): void {
  nn.fuse(model);
  model.eval();
  randomizeBatchNorms(model, 7);
  const plain = run(model, x, false);
  const fused = run(model, x, true);
  assertClose(fused.y, plain.y, tol);
  assert.ok(plain.ops.includes('batchNorm'), 'the unfused pass has batch norms');
  assert.ok(!fused.ops.includes('batchNorm'), `batch norms left after fusion: ${fused.ops.join(' ')}`);
  assert.ok(!fused.ops.includes('relu'), `ReLUs left after fusion: ${fused.ops.join(' ')}`);
}

describe('inference fusion', () => {
  const f64 = { dtype: 'float64' as const, backend: 'ref', generator: new Generator(1) };

  it('folds conv + BN + ReLU in a Sequential exactly (float64)', () => {
    const seq = new nn.Sequential(
      new nn.Conv2d(3, 8, 3, { padding: 1, ...f64 }),
      new nn.BatchNorm2d(8, f64),
      new nn.ReLU(),
      new nn.Conv2d(8, 4, 1, { bias: false, ...f64 }),
      new nn.BatchNorm2d(4, f64),
      new nn.ReLU(),
    );
    checkFusion(seq, ops.randn([2, 3, 6, 5], f64), 1e-12);
  });

  it('fuses the residual sum and ReLU of basic and bottleneck blocks', () => {
    checkFusion(new BasicBlock({ inChannels: 8, planes: 8 }), ops.randn([2, 8, 6, 6]), 1e-4);
    checkFusion(new Bottleneck({ inChannels: 16, planes: 8, stride: 2 }), ops.randn([2, 16, 7, 7]), 1e-4);
    checkFusion(new BasicBlock({ inChannels: 8, planes: 16, stride: 2, shortcut: 'A' }), ops.randn([1, 8, 8, 8]), 1e-4);
  });

  it('fuses BN + ReLU and conv + BN + ReLU in dense layers', () => {
    const block = nn.fuse(new DenseBlock(16, { layers: 3, growthRate: 8 }));
    const x = ops.randn([2, 16, 5, 5]);
    block.eval();
    randomizeBatchNorms(block, 3);
    const fused = run(block, x, true);
    assertClose(fused.y, run(block, x, false).y, 1e-4);
    // Per layer: norm1 stays a batch norm (with the ReLU inside; after the first layer it also
    // joins the features, so no concat runs before it), norm2 is folded into conv1.
    assert.equal(fused.ops.filter((op) => op === 'batchNorm').length, 1);
    assert.equal(fused.ops.filter((op) => op === 'concatBatchNorm').length, 2);
    assert.equal(fused.ops.filter((op) => op === 'concat').length, 1, "only the block's output is concatenated");
    assert.ok(!fused.ops.includes('relu'));
  });

  it('runs linear + ReLU as one op in a classifier (float64, exact)', () => {
    const head = nn.fuse(
      new nn.Sequential(
        new nn.Dropout(),
        new nn.Linear(6, 5, f64),
        new nn.ReLU({ inplace: true }),
        new nn.Linear(5, 3, f64),
      ),
    );
    head.eval();
    const x = ops.randn([4, 6], f64);
    const plain = run(head, x, false);
    const fused = run(head, x, true);
    assertClose(fused.y, plain.y, 1e-12);
    assert.ok(plain.ops.includes('relu') && !fused.ops.includes('relu'), `ops after fusion: ${fused.ops.join(' ')}`);
    assert.equal(fused.ops.filter((op) => op === 'linear').length, 2);
  });

  it('gives the same logits for a whole zoo network (resnet20_cifar)', () => {
    const model = buildModel('resnet20_cifar');
    checkFusion(model, ops.randn([2, 3, 32, 32], { generator: new Generator(5) }), 1e-4);
  });

  it('refolds when a weight changes in place or a statistic is replaced', () => {
    const conv = new nn.Conv2d(2, 3, 1, f64);
    const bn = new nn.BatchNorm2d(3, f64);
    const seq = nn.fuse(new nn.Sequential(conv, bn));
    seq.eval();
    const x = ops.randn([1, 2, 2, 2], f64);
    const first = run(seq, x, true).y;
    bn.runningVar?.assign(ops.full([3], 4, f64));
    assertClose(run(seq, x, true).y, run(seq, x, false).y, 1e-12);
    assert.notDeepEqual(run(seq, x, true).y, first);
    // An optimiser step changes values in place (same storage) and bumps the storage version.
    conv.weight.grad = ops.onesLike(conv.weight);
    new SGD([conv.weight], { lr: 0.5 }).step();
    assertClose(run(seq, x, true).y, run(seq, x, false).y, 1e-12);
  });

  it('stays off in training mode and when gradients are recorded', () => {
    const seq = nn.fuse(new nn.Sequential(new nn.Conv2d(2, 2, 1), new nn.BatchNorm2d(2), new nn.ReLU()));
    nn.setInferenceFusion(true);
    const names: string[] = [];
    traceOps(
      (e) => names.push(e.op),
      () => seq.call(ops.randn([2, 2, 3, 3])),
    );
    assert.ok(names.includes('batchNorm'), 'training mode does not fold batch norms');
    seq.eval();
    names.length = 0;
    traceOps(
      (e) => names.push(e.op),
      () => seq.call(ops.randn([2, 2, 3, 3])),
    );
    assert.ok(names.includes('batchNorm'), 'with gradients on, eval mode still runs the layers one by one');
  });

  it('rejects post-ops that would need a gradient, and addends of the wrong shape', () => {
    const x = ops.randn([1, 2, 3, 3]);
    const w = ops.randn([2, 2, 1, 1]);
    w.requiresGrad = true;
    assert.throws(
      () => ops.conv2d(x, w, null, {}, { relu: true }),
      /conv2d: fused post-ops \(addend, relu\) have no gradient/,
    );
    assert.throws(
      () => ops.linear(ops.randn([3, 2]), ops.reshape(w, [2, 2]), null, { relu: true }),
      /linear: a fused ReLU has no gradient/,
    );
    assert.throws(
      () => noGrad(() => ops.conv2d(x, w, null, {}, { addend: ops.randn([1, 2, 2, 3]) })),
      /conv2d: addend must have the output's shape \[1, 2, 3, 3\], got \[1, 2, 2, 3\]/,
    );
  });
});

/** One training-mode forward and backward: the output, every parameter's gradient, and the ops run. */
function trainStep(model: nn.Module<Tensor, Tensor>, x: Tensor, fused: boolean): { values: number[][]; ops: string[] } {
  nn.setTrainingFusion(fused);
  model.train();
  for (const p of model.parameters()) p.grad = null;
  const names: string[] = [];
  const y = traceOps(
    (e) => names.push(e.op),
    () => model.call(x),
  );
  const weights = ops.reshape(ops.arange(0, y.size, 1, { dtype: y.dtype }), y.shape);
  ops.sum(ops.mul(y, weights)).backward();
  const grads = model.parameters().map((p) => [...(p.grad as Tensor).toArray()]);
  return { values: [[...y.toArray()], ...grads], ops: names };
}

describe('training fusion', () => {
  // The reference kernels compute the fused op as the two ops do, so the results are identical.
  it('runs each BN + ReLU and residual sum + ReLU as one op, with exactly the same outputs and gradients (reference backend)', () => {
    withBackend('ref', () => {
      const models: [string, nn.Module<Tensor, Tensor>, Shape][] = [
        [
          'Sequential',
          new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU()),
          [2, 3, 5, 5],
        ],
        ['BasicBlock', new BasicBlock({ inChannels: 4, planes: 8, stride: 2, shortcut: 'A' }), [2, 4, 6, 6]],
        ['Bottleneck', new Bottleneck({ inChannels: 8, planes: 4 }), [2, 8, 4, 4]],
        ['DenseBlock', new DenseBlock(4, { layers: 2, growthRate: 4 }), [2, 4, 4, 4]],
      ];
      for (const [name, model, shape] of models) {
        nn.fuse(model);
        const x = ops.randn(shape, { generator: new Generator(2) });
        const plain = trainStep(model, x, false);
        const fused = trainStep(model, x, true);
        assert.deepEqual(fused.values, plain.values, name);
        // Every ReLU is fused: after a batch norm into it, after a residual sum into the sum (addRelu).
        const count = (names: string[], op: string): number => names.filter((n) => n === op).length;
        assert.equal(count(fused.ops, 'relu'), 0, `${name}: every ReLU is fused (${fused.ops.join(' ')})`);
        const residual = name === 'BasicBlock' || name === 'Bottleneck' ? 1 : 0;
        assert.equal(count(fused.ops, 'addRelu'), residual, `${name}: the residual sum and ReLU are one op`);
        assert.ok(count(plain.ops, 'relu') > 0);
      }
    });
  });
});

describe('the fusion pass', () => {
  // What nn.fuse() finds in the zoo (models built on meta: the report needs no data).
  const EXPECTED: Record<string, [Partial<Record<nn.FusedKind, number>>, Partial<Record<nn.FusedKind, number>>]> = {
    alexnet: [{ 'conv+relu': 5, 'linear+relu': 2 }, {}],
    vgg11_bn: [{ 'conv+bn+relu': 8, 'linear+relu': 2 }, { 'bn+relu': 8 }],
    googlenet: [{ 'conv+bn+relu': 57 }, { 'bn+relu': 57 }],
    googlenet_paper: [{ 'conv+relu': 57 }, {}],
    resnet18: [
      { 'conv+bn+relu': 9, 'conv+bn+add+relu': 8, 'conv+bn': 3 },
      { 'bn+relu': 9, 'add+relu': 8 },
    ],
    resnet50: [
      { 'conv+bn+relu': 33, 'conv+bn+add+relu': 16, 'conv+bn': 4 },
      { 'bn+relu': 33, 'add+relu': 16 },
    ],
    resnet20_cifar: [
      { 'conv+bn+relu': 10, 'conv+bn+add+relu': 9 },
      { 'bn+relu': 10, 'add+relu': 9 },
    ],
    plain20_cifar: [{ 'conv+bn+relu': 19 }, { 'bn+relu': 19 }],
    // Per dense layer the join (norm1, relu1) and conv1 + norm2 + relu2; the transitions' BN + ReLU.
    densenet121: [{ 'conv+bn+relu': 59, 'concat+bn+relu': 58, 'bn+relu': 3 }, { 'bn+relu': 120 }],
  };

  it('reports the fused groups of every zoo family by kind', () => {
    for (const [name, [inference, training]] of Object.entries(EXPECTED)) {
      const model = buildModel(name, { backend: 'meta' });
      assert.deepEqual(nn.countFusedGroups(model, 'inference'), inference, `${name} inference`);
      assert.deepEqual(nn.countFusedGroups(model, 'training'), training, `${name} training`);
    }
    assert.equal(
      nn.describeFusion(buildModel('resnet50', { backend: 'meta' })),
      'fused for inference: 33 conv+bn+relu, 16 conv+bn+add+relu, 4 conv+bn; for training: 33 bn+relu, 16 add+relu',
    );
    const groups = nn.fusedGroups(buildModel('resnet18', { backend: 'meta' }));
    assert.deepEqual(groups[0], {
      mode: 'inference',
      kind: 'conv+bn+relu',
      owner: '',
      modules: ['conv1', 'bn1', 'relu'],
    });
    assert.deepEqual(groups.find((g) => g.owner === 'layer2.0' && g.kind === 'conv+bn+add+relu')?.modules, [
      'layer2.0.conv2',
      'layer2.0.bn2',
      'layer2.0.downsample',
      'layer2.0.relu',
    ]);
  });

  it('keeps the module tree, parameters and state-dict keys; unfuse() detaches', () => {
    const model = nn.unfuse(buildModel('densenet_bc_100_cifar', { backend: 'meta' }));
    assert.equal(nn.describeFusion(model), 'not fused');
    const before = { modules: model.namedModules().map(([k]) => k), keys: [...model.stateDict().keys()] };
    const params = model.parameters();
    nn.fuse(model);
    assert.deepEqual(
      model.namedModules().map(([k]) => k),
      before.modules,
    );
    assert.deepEqual([...model.stateDict().keys()], before.keys);
    assert.deepEqual(model.parameters(), params);
    assert.ok(model.modules().some((m) => m.fusedForward !== null));
    nn.unfuse(model);
    assert.ok(model.modules().every((m) => m.fusedForward === null));
  });

  it('attaches one form only when asked, and the switches turn the attached forms off', () => {
    const seq = nn.fuse(new nn.Sequential(new nn.Conv2d(2, 2, 1), new nn.BatchNorm2d(2), new nn.ReLU()), {
      mode: 'training',
    });
    assert.deepEqual(nn.countFusedGroups(seq, 'inference'), {});
    assert.deepEqual(nn.countFusedGroups(seq, 'training'), { 'bn+relu': 1 });
    const opsOf = (fn: () => unknown): string[] => {
      const names: string[] = [];
      traceOps((e) => names.push(e.op), fn);
      return names;
    };
    const x = ops.randn([2, 2, 3, 3]);
    assert.ok(!opsOf(() => seq.call(x)).includes('relu'), 'training: BN + ReLU is one op');
    seq.eval();
    assert.ok(noGrad(() => opsOf(() => seq.call(x))).includes('batchNorm'), 'no inference form attached');
    nn.fuse(seq);
    assert.ok(!noGrad(() => opsOf(() => seq.call(x))).includes('batchNorm'), 'inference form attached');
    nn.setInferenceFusion(false);
    assert.ok(noGrad(() => opsOf(() => seq.call(x))).includes('batchNorm'), 'switched off');
    nn.setInferenceFusion(true);
  });
});
