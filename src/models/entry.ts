/** What a registry entry holds, and how builders honour the common build options. */
import { getBackend, withBackend } from '../backend/registry.js';
import { ArgumentError } from '../core/errors.js';
import { fuse } from '../nn/fuse.js';
import { withoutRandomInit } from '../nn/init.js';
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
  /**
   * 'random' (default): the family's initialisation, drawn from the default generator. 'none':
   * the parameters are allocated (zeros; constant fills such as BN's 1 and 0 still run) and no
   * random value is drawn, nor the default generator advanced: for a model whose weights are
   * loaded next (a state dict, a checkpoint), which then builds in a fraction of the time.
   */
  init?: BuildInit;
}

export const BUILD_INITS = ['random', 'none'] as const;
export type BuildInit = (typeof BUILD_INITS)[number];

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
 * Runs a family builder on the backend the options name (default: the current one), without
 * random draws when `init` is 'none', then the
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
  const init = opts.init ?? 'random';
  if (!BUILD_INITS.includes(init))
    throw new ArgumentError('buildModel', `init must be ${BUILD_INITS.join(' or ')}, got ${String(init)}`);
  const built = (): TensorModule => fuse(build(opts.classes, c));
  return withBackend(opts.backend ?? getBackend().name, init === 'none' ? () => withoutRandomInit(built) : built);
}
