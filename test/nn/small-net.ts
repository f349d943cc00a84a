/**
 * A small torchvision-like network for the nn tests: a Sequential stem, a ResNet BasicBlock with a
 * downsample Sequential holding a BatchNorm2d, and a head. Its PyTorch twin is in the comment of
 * state-dict.test.ts, with the keys PyTorch 1.13 produced for it.
 */
import type { Tensor } from '../../src/core/tensor.js';
import { add } from '../../src/ops/arithmetic.js';
import { flatten } from '../../src/ops/layout.js';
import { ReLU } from '../../src/nn/activation.js';
import { BatchNorm2d } from '../../src/nn/batch-norm2d.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Linear } from '../../src/nn/linear.js';
import { Module } from '../../src/nn/module.js';
import type { FactoryOptions } from '../../src/nn/parameter.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../../src/nn/pooling.js';

export class Block extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential;

  constructor(cin: number, cout: number, stride: number, f: FactoryOptions = {}) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false, ...f }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(cout, f));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.conv2 = this.registerModule('conv2', new Conv2d(cout, cout, 3, { stride: 1, padding: 1, bias: false, ...f }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(cout, f));
    this.downsample = this.registerModule(
      'downsample',
      new Sequential(new Conv2d(cin, cout, 1, { stride, bias: false, ...f }), new BatchNorm2d(cout, f)),
    );
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.call(this.conv2.call(this.relu.call(this.bn1.call(this.conv1.call(x)))));
    return this.relu.call(add(out, this.downsample.call(x)));
  }
}

export class Net extends Module {
  readonly features: Sequential;
  readonly layer1: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;

  constructor(f: FactoryOptions = {}) {
    super();
    this.features = this.registerModule(
      'features',
      new Sequential(new Conv2d(3, 8, 3, { padding: 1, ...f }), new ReLU({ inplace: true }), new MaxPool2d(2)),
    );
    this.layer1 = this.registerModule('layer1', new Sequential(new Block(8, 16, 2, f)));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(16, 10, f));
  }

  forward(x: Tensor): Tensor {
    return this.fc.call(flatten(this.avgpool.call(this.layer1.call(this.features.call(x))), 1));
  }
}
