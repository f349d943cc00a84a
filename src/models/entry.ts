/** What a registry entry holds, and how builders honour the common build options. */
import { getBackend, withBackend } from '../backend/registry.js';
import { ArgumentError } from '../core/errors.js';
import { fuse } from '../nn/fuse.js';
import type { TensorModule } from '../nn/module.js';

export type Family = 'alexnet' | 'vgg' | 'googlenet' | 'resnet' | 'densenet';

/** Where a layout comes from: torchvision's code, the original paper, or the paper's CIFAR nets. */
export type Layout = 'torchvision' | 'paper' | 'cifar';

export interface BuildOptions {
  /** Output classes (default: the entry's `classes`). */
  classes?: number;
  /** Backend for the parameters ('meta' builds without allocating or drawing random numbers). */
  backend?: string;
  /** Channels of the input images, taken by the stem convolution (default 3; 1 for greyscale). */
  inChannels?: number;
}

export interface PublishedNumbers {
  /** Trainable parameters. */
  params?: number;
  /** Multiply-adds in billions at the default input (torchvision calls these "GFLOPS"). */
  gmacs?: number;
  /** ImageNet top-1 accuracy in percent (torchvision's weights), or CIFAR-10 test error in percent. */
  top1?: number;
  cifar10Error?: number;
  /** Where the numbers come from. */
  source: string;
}

export interface ModelEntry {
  /** Registry name: torchvision's where it has the model (`resnet50`, `vgg16_bn`). */
  name: string;
  family: Family;
  layout: Layout;
  /** Default input [channels, height, width]. */
  input: readonly [number, number, number];
  classes: number;
  build: (opts?: BuildOptions) => TensorModule;
  published: PublishedNumbers;
  /** One line: the idea this network introduced or what this variant changes. */
  idea: string;
}

/**
 * Runs a family builder on the backend the options name (default: the current one), then the
 * fusion pass (nn.fuse: fused inference and training forms that run when they apply; the module
 * tree and state dict stay as built). `nn.unfuse(model)` gives the plain model back.
 */
export function buildWith(
  opts: BuildOptions,
  build: (classes: number | undefined, inChannels: number | undefined) => TensorModule,
): TensorModule {
  const c = opts.inChannels;
  if (c !== undefined && !(Number.isInteger(c) && c >= 1))
    throw new ArgumentError('buildModel', `inChannels must be a positive integer, got ${String(c)}`);
  return withBackend(opts.backend ?? getBackend().name, () => fuse(build(opts.classes, c)));
}
