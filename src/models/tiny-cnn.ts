/**
 * A small CNN with one of each idea of the lecture, sized for the reference backend: a conv-BN-ReLU
 * stem with pooling, a ResNet basic block (residual add), an Inception-style block (1x1 and 3x3
 * branches concatenated), global average pooling and a linear classifier. The demo and the
 * end-to-end test train it on the synthetic bars task.
 */
import { Concat, Residual } from '../nn/blocks.js';
import { Sequential } from '../nn/containers.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Conv2d } from '../nn/conv2d.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import { ReLU } from '../nn/activation.js';
import { fuse } from '../nn/fuse.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';

export interface TinyCnnOptions {
  inChannels?: number;
  classes?: number;
  /** Channels after the stem (default 8); each concat branch gets half. */
  width?: number;
}

function convBn(inC: number, outC: number, kernel: number): Sequential {
  return new Sequential(
    new Conv2d(inC, outC, kernel, { padding: Math.floor(kernel / 2), bias: false }),
    new BatchNorm2d(outC),
  );
}

export function tinyCnn({ inChannels = 1, classes = 4, width = 8 }: TinyCnnOptions = {}): Sequential {
  const half = Math.floor(width / 2);
  // Fused (nn.fuse) as the zoo's models are: conv + BN folds in inference.
  return fuse(
    Sequential.named({
      stem: new Sequential(convBn(inChannels, width, 3), new ReLU(), new MaxPool2d(2)),
      residual: new Residual(new Sequential(convBn(width, width, 3), new ReLU(), convBn(width, width, 3)), {
        post: new ReLU(),
      }),
      inception: new Concat({
        reduce1x1: new Sequential(convBn(width, half, 1), new ReLU()),
        conv3x3: new Sequential(convBn(width, half, 1), new ReLU(), convBn(half, half, 3), new ReLU()),
      }),
      pool: new AdaptiveAvgPool2d(1),
      flatten: new Flatten(),
      classifier: new Linear(2 * half, classes),
    }),
  );
}
