/**
 * The CIFAR-10 ResNets of He et al. 2015, section 4.2, and their plain twins for the degradation
 * experiment (Fig. 6): a 3x3 conv to 16 channels, three stages of n basic blocks at 16, 32 and 64
 * channels on 32x32, 16x16 and 8x8 maps, global average pooling and a 10-way fc. Depth 6n + 2
 * (2n convs per stage, the first conv and the fc). Shortcuts are option A (identity with zero
 * padding), so a ResNet has exactly the parameters of the plain net of the same depth.
 */
import { ArgumentError } from '../core/errors.js';
import type { TensorModule } from '../nn/module.js';
import { buildWith, type BuildOptions, type ModelEntry } from './entry.js';
import type { ShortcutOption } from './resnet-blocks.js';
import { ResNet } from './resnet-net.js';

/** Depths of Table 6 with their blocks per stage n, parameters (millions) and CIFAR-10 test error (%). */
export const CIFAR_RESNETS = [
  { depth: 20, blocksPerStage: 3, paperParamsM: 0.27, paperErrorPct: 8.75 },
  { depth: 32, blocksPerStage: 5, paperParamsM: 0.46, paperErrorPct: 7.51 },
  { depth: 44, blocksPerStage: 7, paperParamsM: 0.66, paperErrorPct: 7.17 },
  { depth: 56, blocksPerStage: 9, paperParamsM: 0.85, paperErrorPct: 6.97 },
  { depth: 110, blocksPerStage: 18, paperParamsM: 1.7, paperErrorPct: 6.43 },
] as const;

export type CifarResNetDepth = (typeof CIFAR_RESNETS)[number]['depth'];

/** 3x3 conv to 16 channels at full resolution, no max pooling. */
export const CIFAR_STEM = { channels: 16, kernel: 3, stride: 1, padding: 1, maxPool: false } as const;

/** 32x32 -> 16x16 -> 8x8 with 16, 32, 64 filters. */
export const CIFAR_STAGES = [
  { planes: 16, stride: 1 },
  { planes: 32, stride: 2 },
  { planes: 64, stride: 2 },
] as const;

export interface CifarResNetOptions {
  /** 6n + 2 for any n >= 1 (the paper's are 20, 32, 44, 56, 110; also 1202). */
  depth: number;
  /** Default 10. */
  classes?: number;
  /** Channels of the input images; default 3. */
  inChannels?: number;
  /** Default 'A', as the paper's CIFAR nets. */
  shortcut?: ShortcutOption;
  /** Default true; false: the plain net (no shortcuts). */
  residual?: boolean;
  /** Default false. */
  zeroInitResidual?: boolean;
}

/** A CIFAR ResNet (or plain net) of any depth 6n + 2, children named as torchvision's ResNet. */
export function resnetCifar(opts: CifarResNetOptions): ResNet {
  const n = (opts.depth - 2) / 6;
  if (!Number.isInteger(n) || n < 1) {
    throw new ArgumentError(
      'resnetCifar',
      `depth must be 6n + 2 for a whole n >= 1 (8, 14, 20, 32, ...), got ${opts.depth}`,
    );
  }
  return new ResNet({
    block: 'basic',
    stem: CIFAR_STEM,
    stages: CIFAR_STAGES.map((s) => ({ ...s, blocks: n })),
    classes: opts.classes ?? 10,
    shortcut: opts.shortcut ?? 'A',
    strideOn: 'conv2',
    residual: opts.residual ?? true,
    zeroInitResidual: opts.zeroInitResidual ?? false,
    inChannels: opts.inChannels ?? 3,
  });
}

const build =
  (depth: number, residual: boolean) =>
  (opts: BuildOptions = {}): TensorModule =>
    buildWith(opts, (classes, inChannels) => resnetCifar({ depth, residual, classes, inChannels }));

const SOURCE = 'He et al. 2015, Table 6 (parameters rounded there to 0.01M; CIFAR-10 test error)';

export const RESNET_CIFAR_MODELS: readonly ModelEntry[] = [
  ...CIFAR_RESNETS.map(
    ({ depth, paperParamsM, paperErrorPct }): ModelEntry => ({
      name: `resnet${depth}_cifar`,
      family: 'resnet',
      layout: 'cifar',
      input: [3, 32, 32],
      classes: 10,
      build: build(depth, true),
      published: { params: Math.round(paperParamsM * 1e6), cifar10Error: paperErrorPct, source: SOURCE },
      idea: `CIFAR ResNet-${depth} (n=${(depth - 2) / 6}): identity shortcuts with zero padding add no parameters, yet deeper trains better`,
    }),
  ),
  ...CIFAR_RESNETS.map(
    ({ depth }): ModelEntry => ({
      name: `plain${depth}_cifar`,
      family: 'resnet',
      layout: 'cifar',
      input: [3, 32, 32],
      classes: 10,
      build: build(depth, false),
      published: {
        source: 'He et al. 2015, Fig. 6: without shortcuts, deeper plain nets have higher training and test error',
      },
      idea: `Plain ${depth}-layer twin of resnet${depth}_cifar (same layers, no shortcuts): the degradation problem`,
    }),
  ),
];
