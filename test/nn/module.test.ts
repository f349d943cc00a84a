import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError, ShapeError } from '../../src/core/errors.js';
import type { Tensor } from '../../src/core/tensor.js';
import { withBackend } from '../../src/backend/registry.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { Net } from './small-net.js';

class Model extends nn.Module {
  readonly body = this.registerModule('body', new nn.Sequential(new nn.Conv2d(3, 8, 3), new nn.ReLU()));
  forward(x: Tensor): Tensor {
    return this.body.call(x);
  }
}

describe('Module: registration and traversal', () => {
  it('lists modules in pre-order with dotted names, the root first as ""', () => {
    // PyTorch 1.13, [n for n, _ in Net().named_modules()] for the twin network (see state-dict.test.ts).
    const expected = [
      '',
      'features',
      'features.0',
      'features.1',
      'features.2',
      'layer1',
      'layer1.0',
      'layer1.0.conv1',
      'layer1.0.bn1',
      'layer1.0.relu',
      'layer1.0.conv2',
      'layer1.0.bn2',
      'layer1.0.downsample',
      'layer1.0.downsample.0',
      'layer1.0.downsample.1',
      'avgpool',
      'fc',
    ];
    const net = new Net();
    assert.deepEqual(
      net.namedModules().map(([n]) => n),
      expected,
    );
    assert.deepEqual(
      net.namedModules().map(([, m]) => m.path),
      expected,
      'each module knows its own path',
    );
    assert.deepEqual(
      net.namedChildren().map(([n]) => n),
      ['features', 'layer1', 'avgpool', 'fc'],
    );
  });

  it('parameters and buffers carry their dotted names; buffers are not parameters', () => {
    const net = new Net();
    const params = net.namedParameters().map(([n]) => n);
    assert.deepEqual(params.slice(0, 4), [
      'features.0.weight',
      'features.0.bias',
      'layer1.0.conv1.weight',
      'layer1.0.bn1.weight',
    ]);
    assert.ok(!params.some((n) => n.includes('running')));
    assert.equal(net.buffers().length, 9);
    assert.ok(net.parameters().every((p) => p.requiresGrad && p.isLeaf));
    assert.ok(net.buffers().every((b) => !b.requiresGrad));
    assert.deepEqual(net.namedParameters({ recurse: false }), []);
  });

  it('counts parameters like torchvision (shared tensors once, trainable only on request)', () => {
    // 4074: sum(p.numel() for p in Net().parameters()) in PyTorch 1.13.
    assert.equal(new Net().numParameters(), 4074);
    // 3*64*11*11 + 64 and 9216*4096 + 4096 (AlexNet's first conv and first fully connected layer).
    assert.equal(new nn.Conv2d(3, 64, 11, { stride: 4, padding: 2 }).numParameters(), 23_296);
    assert.equal(new nn.Linear(9216, 4096, { backend: 'meta' }).numParameters(), 37_752_832);
    assert.equal(withBackend('meta', () => new nn.Linear(9216, 4096)).numParameters(), 37_752_832);
    const shared = new nn.Linear(4, 4);
    const twice = new nn.Sequential(shared, shared);
    assert.equal(twice.numParameters(), 20);
    assert.deepEqual(
      [...twice.stateDict().keys()],
      ['0.weight', '0.bias', '1.weight', '1.bias'],
      'state dicts list both names, as PyTorch',
    );
    const frozen = new nn.Sequential(new nn.Linear(4, 4), new nn.Linear(4, 2));
    for (const p of frozen.at(0).parameters()) p.requireGrad(false);
    assert.equal(frozen.numParameters({ trainableOnly: true }), 10);
    assert.equal(frozen.numParameters(), 30);
  });

  it('refuses bad names, name clashes, cycles and non-leaf parameters', () => {
    const m = new nn.Identity();
    assert.throws(
      () => m.registerParameter('a.b', ops.zeros([1])),
      /^ArgumentError: registerParameter: name must be non-empty and contain no '\.', got 'a\.b'$/,
    );
    m.registerBuffer('x', ops.zeros([1]));
    assert.throws(
      () => m.registerParameter('x', ops.zeros([1])),
      /registerParameter: 'x' is already registered as another kind of member/,
    );
    const outer = new nn.Sequential(new nn.Identity());
    const inner = new nn.Sequential();
    outer.add('inner', inner);
    assert.throws(() => inner.add('loop', outer), /registerModule: 'loop' would make a module its own descendant/);
    const made = ops.mul(ops.ones([2], { requiresGrad: true }), 2);
    assert.throws(
      () => m.registerParameter('w', made),
      (e: unknown) => e instanceof ArgumentError && /must be a leaf tensor, this one was made by mul/.test(e.message),
    );
  });

  it('replacing a member keeps its place in the order', () => {
    const m = new nn.Linear(2, 3);
    m.registerParameter('weight', ops.ones([3, 2]));
    assert.deepEqual(
      m.namedParameters().map(([n]) => n),
      ['weight', 'bias'],
    );
  });
});

describe('Module: modes, gradients, apply', () => {
  it('train()/eval() switch every descendant', () => {
    const net = new Net();
    assert.ok(net.modules().every((m) => m.training));
    assert.equal(net.eval(), net);
    assert.ok(net.modules().every((m) => !m.training));
    net.layer1.train();
    assert.deepEqual(
      net
        .modules()
        .filter((m) => m.training)
        .map((m) => m.path)
        .slice(0, 2),
      ['layer1', 'layer1.0'],
    );
    assert.ok(!net.training && !net.features.training);
  });

  it('zeroGrad drops gradients, or zeroes them with setToNone false', () => {
    const m = new nn.Linear(3, 2);
    ops.sum(m.call(ops.ones([4, 3]))).backward();
    assert.ok(m.weight.grad && m.bias?.grad);
    assert.deepEqual([...(m.bias?.grad?.toArray() ?? [])], [4, 4]);
    m.zeroGrad({ setToNone: false });
    assert.deepEqual([...(m.bias?.grad?.toArray() ?? [])], [0, 0]);
    m.zeroGrad();
    assert.equal(m.weight.grad, null);
    assert.equal(m.bias?.grad, null);
  });

  it('dispose frees every parameter and buffer', () => {
    const net = new Net();
    const tensors = [...net.parameters(), ...net.buffers()];
    net.dispose();
    assert.ok(tensors.every((t) => t.disposed));
  });

  it('apply visits children before parents (nn.Module.apply)', () => {
    const seen: string[] = [];
    new Net().apply((m) => seen.push(m.path));
    assert.deepEqual(seen.slice(0, 5), ['features.0', 'features.1', 'features.2', 'features', 'layer1.0.conv1']);
    assert.equal(seen[seen.length - 1], '');
  });
});

describe('Module: errors name the layer path', () => {
  it('an op failing deep inside a model names the layer', () => {
    const model = new Model();
    assert.throws(
      () => model.call(ops.zeros([1, 4, 8, 8])),
      (e: unknown) =>
        e instanceof ShapeError &&
        e.message === 'conv2d (body.0): input has 4 channels, weight expects 3 (= 3 per group x 1 groups)' &&
        e.path === 'body.0',
    );
    const net = new Net();
    assert.throws(
      () => net.call(ops.zeros([1, 3, 2, 2])),
      /^ShapeError: batchNorm \(layer1\.0\.bn1\): expected more than 1 value per channel/,
    );
    assert.throws(
      () => net.layer1.call(ops.zeros([2, 3, 8, 8])),
      /^ShapeError: conv2d \(layer1\.0\.conv1\): input has 3 channels, weight expects 8/,
    );
  });

  it('a layer called on its own (the root) adds no path', () => {
    assert.throws(
      () => new nn.Conv2d(3, 8, 3).call(ops.zeros([1, 4, 8, 8])),
      /^ShapeError: conv2d: input has 4 channels/,
    );
  });
});

describe('Module.toString', () => {
  it("prints PyTorch's repr of the same network", () => {
    // print(Net()) in PyTorch 1.13 for the twin network (see state-dict.test.ts).
    const expected = `Net(
  (features): Sequential(
    (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (1): ReLU(inplace=True)
    (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  )
  (layer1): Sequential(
    (0): Block(
      (conv1): Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)
      (bn1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (relu): ReLU(inplace=True)
      (conv2): Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (bn2): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (downsample): Sequential(
        (0): Conv2d(8, 16, kernel_size=(1, 1), stride=(2, 2), bias=False)
        (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      )
    )
  )
  (avgpool): AdaptiveAvgPool2d(output_size=1)
  (fc): Linear(in_features=16, out_features=10, bias=True)
)`;
    assert.equal(new Net().toString(), expected);
  });

  it('prints every layer as PyTorch does', () => {
    // Each expected line was printed by PyTorch 1.13 for the torch.nn call in the comment.
    const cases: [nn.AnyModule, string][] = [
      [
        new nn.Conv2d(3, 64, 11, { stride: 4, padding: 2 }),
        'Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))',
      ],
      // nn.Conv2d(4, 4, 3, padding='same', groups=2, bias=False, dilation=2)
      [
        new nn.Conv2d(4, 4, 3, { padding: 'same', groups: 2, bias: false, dilation: 2 }),
        'Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), groups=2, bias=False)',
      ],
      [new nn.Conv2d(3, 3, 3, { padding: 'valid' }), 'Conv2d(3, 3, kernel_size=(3, 3), stride=(1, 1), padding=valid)'],
      [
        new nn.Conv2d(3, 3, [1, 3], { padding: [0, 1] }),
        'Conv2d(3, 3, kernel_size=(1, 3), stride=(1, 1), padding=(0, 1))',
      ],
      [new nn.ReLU(), 'ReLU()'],
      [
        new nn.MaxPool2d(3, { stride: 2 }),
        'MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)',
      ],
      [new nn.BatchNorm2d(64), 'BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)'],
      [
        new nn.BatchNorm2d(3, { momentum: null, affine: false, trackRunningStats: false }),
        'BatchNorm2d(3, eps=1e-05, momentum=None, affine=False, track_running_stats=False)',
      ],
      [new nn.LocalResponseNorm(5), 'LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)'],
      [new nn.Dropout(), 'Dropout(p=0.5, inplace=False)'],
      [new nn.Linear(10, 5), 'Linear(in_features=10, out_features=5, bias=True)'],
      [new nn.AdaptiveAvgPool2d([6, 6]), 'AdaptiveAvgPool2d(output_size=(6, 6))'],
      [new nn.AvgPool2d(2), 'AvgPool2d(kernel_size=2, stride=2, padding=0)'],
      [new nn.Flatten(), 'Flatten(start_dim=1, end_dim=-1)'],
      [new nn.Identity(), 'Identity()'],
      [new nn.Sigmoid(), 'Sigmoid()'],
      [new nn.Tanh(), 'Tanh()'],
      [new nn.Sequential(), 'Sequential()'],
      [new nn.ModuleList([new nn.ReLU(), new nn.ReLU()]), 'ModuleList(\n  (0): ReLU()\n  (1): ReLU()\n)'],
      [new nn.ModuleDict({ a: new nn.ReLU() }), 'ModuleDict(\n  (a): ReLU()\n)'],
    ];
    for (const [m, text] of cases) assert.equal(m.toString(), text);
  });
});
