/**
 * The lecture's hand calculations as functions that work for any sizes. Parameter counts are
 * convolution weights k x k x in x out (bias excluded unless asked, as the lecture counts them);
 * batch-norm layers add 2 parameters (scale and shift) per channel. MACs are per output position
 * unless a feature-map size is given (stride 1, 'same' padding: one output per input pixel).
 */
import { ArgumentError } from '../core/errors.js';

/** Weights (and biases) of a k x k convolution. */
export function convParams(
  inChannels: number,
  outChannels: number,
  kernel: number,
  opts: { bias?: boolean; groups?: number } = {},
): number {
  const groups = opts.groups ?? 1;
  return kernel * kernel * (inChannels / groups) * outChannels + (opts.bias ? outChannels : 0);
}

/**
 * The largest sizes the calculators take (the command line's limits too). Together with the check
 * that every result stays an exact integer, they keep the work small and the answers exact.
 */
export const CALC_LIMITS = {
  /** Channels of any layer, the growth rate included. */
  channels: 1_000_000,
  /** Side of a kernel. */
  kernel: 10_000,
  /** Stacked convolutions in `compareStack`. */
  count: 10_000,
  /** Bottleneck output channels / width in `compareBlocks`. */
  expansion: 1_000,
  /** Feature-map side in `compareBlocks`. */
  size: 100_000,
  /** Layers of a dense block. */
  layers: 10_000,
  /** DenseNet bottleneck width factor (0: none). */
  bottleneckFactor: 1_000,
} as const;

type Limit = keyof typeof CALC_LIMITS;

/** Each value an integer from 1 (or `min`) to its limit; `values` maps a name to [value, limit]. */
function inRange(where: string, values: Readonly<Record<string, readonly [number, Limit]>>, min = 1): void {
  for (const [name, [v, limit]] of Object.entries(values)) {
    const max = CALC_LIMITS[limit];
    if (!Number.isInteger(v) || v < min || v > max)
      throw new ArgumentError(where, `${name} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

/**
 * Throws unless every number in `result` is finite and, if an integer, exact (at most 2^53 - 1):
 * past that a double rounds counts, so the calculators refuse rather than print wrong digits.
 */
function exact<T>(where: string, result: T): T {
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'number') {
      if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER)
        throw new ArgumentError(
          where,
          `${path} would be ${value}, past 2^53 - 1 = ${Number.MAX_SAFE_INTEGER}, the largest integer a double holds exactly; use smaller sizes`,
        );
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${path}[${i}]`));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, path === '' ? k : `${path}.${k}`);
    }
  };
  visit(result, '');
  return result;
}

// ---- stacked small kernels vs one large kernel (VGG) ------------------------------------------

export interface StackOptions {
  /** Side of each small kernel (default 3). */
  kernel?: number;
  /** How many are stacked (default 2). */
  count?: number;
  /** Channels in and out of every layer (default 128). */
  channels?: number;
  bias?: boolean;
}

export interface StackComparison {
  kernel: number;
  count: number;
  channels: number;
  /** Receptive field of the stack: count (kernel - 1) + 1, stride 1. */
  receptiveField: number;
  stacked: { layers: number; params: number; nonlinearities: number };
  /** One kernel as large as the stack's receptive field. */
  single: { kernel: number; params: number; nonlinearities: number };
  /** single / stacked parameters. */
  ratio: number;
}

/** n stacked k x k convolutions see as far as one (n (k - 1) + 1)-sized kernel, with fewer weights and more ReLUs. */
export function compareStack(opts: StackOptions = {}): StackComparison {
  const { kernel = 3, count = 2, channels = 128, bias = false } = opts;
  inRange('calc stack', { kernel: [kernel, 'kernel'], count: [count, 'count'], channels: [channels, 'channels'] });
  // At most 10^4 x (10^4 - 1) + 1: exact; the parameter counts are checked below.
  const receptiveField = count * (kernel - 1) + 1;
  const stacked = count * convParams(channels, channels, kernel, { bias });
  const single = convParams(channels, channels, receptiveField, { bias });
  return exact('calc stack', {
    kernel,
    count,
    channels,
    receptiveField,
    stacked: { layers: count, params: stacked, nonlinearities: count },
    single: { kernel: receptiveField, params: single, nonlinearities: 1 },
    ratio: single / stacked,
  });
}

// ---- 1x1 reduction before a larger convolution (GoogLeNet, ResNet bottleneck) ----------------

export interface ReductionOptions {
  inChannels?: number;
  /** Channels after the 1x1 reduction (default 32). */
  reduced?: number;
  outChannels?: number;
  /** The convolution after the reduction (default 3). */
  kernel?: number;
  bias?: boolean;
}

export interface ReductionComparison {
  inChannels: number;
  reduced: number;
  outChannels: number;
  kernel: number;
  direct: { params: number };
  withReduction: { reduceParams: number; convParams: number; params: number };
  /** direct / with reduction. */
  ratio: number;
}

/** k x k in -> out directly, or 1x1 in -> reduced followed by k x k reduced -> out. */
export function compareReduction(opts: ReductionOptions = {}): ReductionComparison {
  const { inChannels = 128, reduced = 32, outChannels = 128, kernel = 3, bias = false } = opts;
  inRange('calc bottleneck', {
    inChannels: [inChannels, 'channels'],
    reduced: [reduced, 'channels'],
    outChannels: [outChannels, 'channels'],
    kernel: [kernel, 'kernel'],
  });
  const direct = convParams(inChannels, outChannels, kernel, { bias });
  const reduceParams = convParams(inChannels, reduced, 1, { bias });
  const conv = convParams(reduced, outChannels, kernel, { bias });
  return exact('calc bottleneck', {
    inChannels,
    reduced,
    outChannels,
    kernel,
    direct: { params: direct },
    withReduction: { reduceParams, convParams: conv, params: reduceParams + conv },
    ratio: direct / (reduceParams + conv),
  });
}

// ---- an Inception module with and without its 1x1 reductions ----------------------------------

/** Channel counts of one Inception module, as in the GoogLeNet paper's table 1. */
export interface InceptionSpec {
  inChannels: number;
  ch1x1: number;
  ch3x3reduce: number;
  ch3x3: number;
  ch5x5reduce: number;
  ch5x5: number;
  poolProj: number;
}

/** Inception (3a) of the GoogLeNet paper (input 28x28x192). */
export const INCEPTION_3A: InceptionSpec = {
  inChannels: 192,
  ch1x1: 64,
  ch3x3reduce: 96,
  ch3x3: 128,
  ch5x5reduce: 16,
  ch5x5: 32,
  poolProj: 32,
};

export interface BranchCost {
  branch: '1x1' | '3x3' | '5x5' | 'pool';
  withReduction: { params: number; outChannels: number };
  withoutReduction: { params: number; outChannels: number };
}

export interface InceptionComparison {
  spec: InceptionSpec;
  branches: BranchCost[];
  withReduction: { params: number; outChannels: number };
  withoutReduction: { params: number; outChannels: number };
}

/**
 * Each branch with its 1x1 reduction (the paper's module) and without (the naive module: 3x3 and
 * 5x5 straight from the input, the pooling branch passing every input channel on).
 */
export function compareInception(
  spec: InceptionSpec = INCEPTION_3A,
  opts: { bias?: boolean } = {},
): InceptionComparison {
  inRange('calc inception', Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, [v, 'channels'] as const])));
  const p = (i: number, o: number, k: number): number => convParams(i, o, k, opts);
  const s = spec;
  const branches: BranchCost[] = [
    {
      branch: '1x1',
      withReduction: { params: p(s.inChannels, s.ch1x1, 1), outChannels: s.ch1x1 },
      withoutReduction: { params: p(s.inChannels, s.ch1x1, 1), outChannels: s.ch1x1 },
    },
    {
      branch: '3x3',
      withReduction: { params: p(s.inChannels, s.ch3x3reduce, 1) + p(s.ch3x3reduce, s.ch3x3, 3), outChannels: s.ch3x3 },
      withoutReduction: { params: p(s.inChannels, s.ch3x3, 3), outChannels: s.ch3x3 },
    },
    {
      branch: '5x5',
      withReduction: { params: p(s.inChannels, s.ch5x5reduce, 1) + p(s.ch5x5reduce, s.ch5x5, 5), outChannels: s.ch5x5 },
      withoutReduction: { params: p(s.inChannels, s.ch5x5, 5), outChannels: s.ch5x5 },
    },
    {
      branch: 'pool',
      withReduction: { params: p(s.inChannels, s.poolProj, 1), outChannels: s.poolProj },
      withoutReduction: { params: 0, outChannels: s.inChannels },
    },
  ];
  const total = (key: 'withReduction' | 'withoutReduction'): { params: number; outChannels: number } => ({
    params: branches.reduce((n, b) => n + b[key].params, 0),
    outChannels: branches.reduce((n, b) => n + b[key].outChannels, 0),
  });
  return exact('calc inception', {
    spec,
    branches,
    withReduction: total('withReduction'),
    withoutReduction: total('withoutReduction'),
  });
}

// ---- ResNet's basic block vs bottleneck at the same 3x3 width ---------------------------------

export interface BlockOptions {
  /** Channels of the 3x3 convolutions (default 64, ResNet's first stage). */
  width?: number;
  /** Bottleneck output channels / width (default 4). */
  expansion?: number;
  /** Feature-map side for MACs (default 56, ResNet's first stage at 224x224). */
  size?: number;
}

export interface BlockConv {
  kernel: number;
  inChannels: number;
  outChannels: number;
  params: number;
}

export interface BlockCost {
  name: string;
  inChannels: number;
  outChannels: number;
  convs: BlockConv[];
  convParams: number;
  /** One batch norm after every convolution: scale and shift per channel. */
  bnParams: number;
  params: number;
  /** Convolution multiply-adds on a size x size map (stride 1, no shortcut projection). */
  macs: number;
}

function block(
  name: string,
  layers: readonly (readonly [kernel: number, inChannels: number, outChannels: number])[],
  size: number,
): BlockCost {
  const convs = layers.map(([kernel, inChannels, outChannels]) => ({
    kernel,
    inChannels,
    outChannels,
    params: convParams(inChannels, outChannels, kernel),
  }));
  const convTotal = convs.reduce((n, c) => n + c.params, 0);
  const bnParams = convs.reduce((n, c) => n + 2 * c.outChannels, 0);
  return {
    name,
    inChannels: convs[0].inChannels,
    outChannels: convs[convs.length - 1].outChannels,
    convs,
    convParams: convTotal,
    bnParams,
    params: convTotal + bnParams,
    macs: convTotal * size * size,
  };
}

/**
 * The basic block (3x3, 3x3 at `width`), the bottleneck (1x1 down to `width`, 3x3, 1x1 up to
 * expansion x width) and, for scale, a basic block as wide as the bottleneck's input and output.
 */
export function compareBlocks(opts: BlockOptions = {}): {
  basic: BlockCost;
  bottleneck: BlockCost;
  wideBasic: BlockCost;
} {
  const { width = 64, expansion = 4, size = 56 } = opts;
  inRange('calc block', { width: [width, 'channels'], expansion: [expansion, 'expansion'], size: [size, 'size'] });
  const outer = width * expansion;
  return exact('calc block', {
    basic: block(
      'basic block',
      [
        [3, width, width],
        [3, width, width],
      ],
      size,
    ),
    bottleneck: block(
      'bottleneck',
      [
        [1, outer, width],
        [3, width, width],
        [1, width, outer],
      ],
      size,
    ),
    wideBasic: block(
      `basic block at ${outer} channels`,
      [
        [3, outer, outer],
        [3, outer, outer],
      ],
      size,
    ),
  });
}

// ---- DenseNet: channel growth inside a dense block, compression in the transition -------------

export interface DenseOptions {
  /** Channels entering the block (default 64, DenseNet-121's first block). */
  inChannels?: number;
  /** Growth rate k: channels each layer adds (default 32). */
  growthRate?: number;
  layers?: number;
  /** Bottleneck width factor: the 1x1 conv makes factor x k channels; 0 for no bottleneck (default 4, "-B"). */
  bottleneckFactor?: number;
  /** Transition keeps floor(compression x channels) (default 0.5, "-C"); 1 keeps all. */
  compression?: number;
}

export interface DenseLayerCost {
  index: number;
  inChannels: number;
  outChannels: number;
  params: number;
}

export interface DenseComparison {
  inChannels: number;
  growthRate: number;
  layers: DenseLayerCost[];
  /** inChannels + layers x growthRate. */
  outChannels: number;
  blockParams: number;
  transition: { inChannels: number; outChannels: number; params: number };
}

/**
 * A dense block: layer i sees in + i k channels (everything before it, concatenated) and adds k.
 * Layer: BN-ReLU-1x1 (to factor x k) -BN-ReLU-3x3 (to k), or BN-ReLU-3x3 without the bottleneck.
 * Transition: BN-ReLU-1x1 conv to floor(compression x channels), then 2x2 average pooling.
 */
export function denseBlock(opts: DenseOptions = {}): DenseComparison {
  const { inChannels = 64, growthRate = 32, layers = 6, bottleneckFactor = 4, compression = 0.5 } = opts;
  inRange('calc dense', {
    inChannels: [inChannels, 'channels'],
    growthRate: [growthRate, 'channels'],
    layers: [layers, 'layers'],
  });
  inRange('calc dense', { bottleneckFactor: [bottleneckFactor, 'bottleneckFactor'] }, 0);
  if (!(compression > 0 && compression <= 1))
    throw new ArgumentError('calc dense', `compression must be in (0, 1], got ${compression}`);
  const bn = (c: number): number => 2 * c;
  const rows: DenseLayerCost[] = [];
  for (let i = 0; i < layers; i++) {
    const c = inChannels + i * growthRate;
    const mid = bottleneckFactor * growthRate;
    const params =
      bottleneckFactor > 0
        ? bn(c) + convParams(c, mid, 1) + bn(mid) + convParams(mid, growthRate, 3)
        : bn(c) + convParams(c, growthRate, 3);
    rows.push({ index: i + 1, inChannels: c, outChannels: c + growthRate, params });
  }
  const outChannels = inChannels + layers * growthRate;
  const kept = Math.floor(compression * outChannels);
  return exact('calc dense', {
    inChannels,
    growthRate,
    layers: rows,
    outChannels,
    blockParams: rows.reduce((n, r) => n + r.params, 0),
    transition: {
      inChannels: outChannels,
      outChannels: kept,
      params: bn(outChannels) + convParams(outChannels, kept, 1),
    },
  });
}
