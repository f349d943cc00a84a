/**
 * ResNet for ImageNet (He et al. 2015, "Deep Residual Learning for Image Recognition", Table 1):
 * ResNet-18/34 of basic blocks, ResNet-50/101/152 of bottlenecks, in torchvision's v1.5 layout
 * (`resnet50`) and the paper's v1 layout (`resnet50_v1`). The registry entries here also include
 * the CIFAR nets of section 4.2 (resnet-cifar.ts).
 */
import type { TensorModule } from '../nn/module.js';
import { buildWith, type BuildOptions, type ModelEntry } from './entry.js';
import type { BottleneckStride, ShortcutOption } from './resnet-blocks.js';
import { RESNET_CIFAR_MODELS } from './resnet-cifar.js';
import { ResNet, type StageSpec } from './resnet-net.js';

/** Table 1 of the paper: block kind and blocks per stage (conv2_x ... conv5_x) for each depth. */
export const RESNET_DEPTHS = {
  18: { block: 'basic', blocksPerStage: [2, 2, 2, 2] },
  34: { block: 'basic', blocksPerStage: [3, 4, 6, 3] },
  50: { block: 'bottleneck', blocksPerStage: [3, 4, 6, 3] },
  101: { block: 'bottleneck', blocksPerStage: [3, 4, 23, 3] },
  152: { block: 'bottleneck', blocksPerStage: [3, 8, 36, 3] },
} as const;

export type ResNetDepth = keyof typeof RESNET_DEPTHS;

/** 7x7/2 conv to 64 channels, then 3x3/2 max pooling: 224 -> 56. */
export const IMAGENET_STEM = { channels: 64, kernel: 7, stride: 2, padding: 3, maxPool: true } as const;

/** Inner widths of the four stages; every stage but the first halves the resolution. */
export const IMAGENET_STAGES = [
  { planes: 64, stride: 1 },
  { planes: 128, stride: 2 },
  { planes: 256, stride: 2 },
  { planes: 512, stride: 2 },
] as const;

export interface ResNetOptions {
  depth: ResNetDepth;
  /** Default 1000. */
  classes?: number;
  /** Default 'B' (torchvision's projection where the shape changes). */
  shortcut?: ShortcutOption;
  /** Bottleneck nets: default 'conv2' (torchvision's v1.5); 'conv1' is the paper's v1. */
  strideOn?: BottleneckStride;
  /** Default false, as torchvision. */
  zeroInitResidual?: boolean;
  /** Default true; false builds the plain net of the same depth. */
  residual?: boolean;
  /** Default 3. */
  inChannels?: number;
}

export function resnet(opts: ResNetOptions): ResNet {
  const { block, blocksPerStage } = RESNET_DEPTHS[opts.depth];
  const stages: StageSpec[] = IMAGENET_STAGES.map((s, i) => ({ ...s, blocks: blocksPerStage[i] }));
  return new ResNet({
    block,
    stem: IMAGENET_STEM,
    stages,
    classes: opts.classes ?? 1000,
    shortcut: opts.shortcut ?? 'B',
    strideOn: opts.strideOn ?? 'conv2',
    residual: opts.residual ?? true,
    zeroInitResidual: opts.zeroInitResidual ?? false,
    inChannels: opts.inChannels ?? 3,
  });
}

/** torchvision 0.14's counts and IMAGENET1K_V1 top-1 accuracies. */
const TORCHVISION_NUMBERS = {
  18: { params: 11_689_512, gmacs: 1.814, top1: 69.758 },
  34: { params: 21_797_672, gmacs: 3.664, top1: 73.314 },
  50: { params: 25_557_032, gmacs: 4.089, top1: 76.13 },
  101: { params: 44_549_160, gmacs: 7.801, top1: 77.374 },
  152: { params: 60_192_808, gmacs: 11.514, top1: 78.312 },
} as const satisfies Record<ResNetDepth, object>;

/** The paper's Table 1 "FLOPs", which are multiply-adds, for the v1 layout. */
const PAPER_GMACS = { 50: 3.8, 101: 7.6, 152: 11.3 } as const;

const IDEAS: Record<ResNetDepth, string> = {
  18: 'Residual learning: blocks learn F(x) and add x back, so very deep nets train (basic blocks)',
  34: 'Residual learning at 34 layers: deeper than its plain twin and better, not worse',
  50: 'Bottleneck blocks (1x1 reduce, 3x3, 1x1 expand) make 50 layers cost about what 34 do',
  101: 'Bottleneck ResNet at 101 layers: depth keeps paying off with identity shortcuts',
  152: 'Bottleneck ResNet at 152 layers, still cheaper than VGG-16/19',
};

const buildResnet =
  (opts: Omit<ResNetOptions, 'classes'>) =>
  (build: BuildOptions = {}): TensorModule =>
    buildWith(build, (classes, inChannels) => resnet({ ...opts, classes, inChannels }));

const torchvisionEntry = (depth: ResNetDepth): ModelEntry => ({
  name: `resnet${depth}`,
  family: 'resnet',
  layout: 'torchvision',
  input: [3, 224, 224],
  classes: 1000,
  build: buildResnet({ depth }),
  published: {
    ...TORCHVISION_NUMBERS[depth],
    source: 'torchvision 0.14 (parameters, GMACs at 224x224, IMAGENET1K_V1 top-1)',
  },
  idea: IDEAS[depth],
});

const paperEntry = (depth: 50 | 101 | 152): ModelEntry => ({
  name: `resnet${depth}_v1`,
  family: 'resnet',
  layout: 'paper',
  input: [3, 224, 224],
  classes: 1000,
  build: buildResnet({ depth, strideOn: 'conv1' }),
  published: {
    // Moving a stride changes no weight: the parameters are torchvision's exactly.
    params: TORCHVISION_NUMBERS[depth].params,
    gmacs: PAPER_GMACS[depth],
    source: 'He et al. 2015, Table 1 ("FLOPs" there are multiply-adds); parameters as torchvision, the same layers',
  },
  idea: `The paper's v1 bottleneck: stride 2 on the first 1x1, so it runs at the lower resolution (0.231 GMACs fewer than torchvision's v1.5)`,
});

export const RESNET_MODELS: readonly ModelEntry[] = [
  ...([18, 34, 50, 101, 152] as const).map(torchvisionEntry),
  ...([50, 101, 152] as const).map(paperEntry),
  ...RESNET_CIFAR_MODELS,
];
