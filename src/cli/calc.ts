/** `convkit calc ...`: the lecture's hand calculations for any sizes. */
import type { Command, Option } from 'commander';
import {
  CALC_LIMITS,
  compareBlocks,
  compareInception,
  compareReduction,
  compareStack,
  denseBlock,
  INCEPTION_3A,
} from '../analysis/calculators.js';
import { formatOption, intOption, numberOption, toJson, UsageError, type Format } from './args.js';
import { ArgumentError } from '../core/errors.js';
import { blocksText, denseText, inceptionText, reductionText, stackText } from './format/calc.js';

interface Formatted {
  format: Format;
}

const emit = (format: Format, data: unknown, text: () => string): string => (format === 'json' ? toJson(data) : text());

/**
 * The calculators check their arguments (the same limits as the options) and refuse results past
 * exact integers; on the command line both are mistakes in the call (exit status 2).
 */
function usage<T>(compute: () => T): T {
  try {
    return compute();
  } catch (err) {
    if (err instanceof ArgumentError) throw new UsageError(err.message);
    throw err;
  }
}

export function calcStack(o: { kernel: number; count: number; channels: number; bias?: boolean } & Formatted): string {
  const c = usage(() => compareStack(o));
  return emit(o.format, c, () => stackText(c));
}

export function calcBottleneck(
  o: { in: number; reduce: number; out: number; kernel: number; bias?: boolean } & Formatted,
): string {
  const c = usage(() =>
    compareReduction({ inChannels: o.in, reduced: o.reduce, outChannels: o.out, kernel: o.kernel, bias: o.bias }),
  );
  return emit(o.format, c, () => reductionText(c));
}

export function calcInception(
  o: {
    in: number;
    c1: number;
    c3Reduce: number;
    c3: number;
    c5Reduce: number;
    c5: number;
    poolProj: number;
    bias?: boolean;
  } & Formatted,
): string {
  const c = usage(() =>
    compareInception(
      {
        inChannels: o.in,
        ch1x1: o.c1,
        ch3x3reduce: o.c3Reduce,
        ch3x3: o.c3,
        ch5x5reduce: o.c5Reduce,
        ch5x5: o.c5,
        poolProj: o.poolProj,
      },
      { bias: o.bias },
    ),
  );
  return emit(o.format, c, () => inceptionText(c));
}

export function calcBlock(o: { width: number; expansion: number; size: number } & Formatted): string {
  const c = usage(() => compareBlocks(o));
  return emit(o.format, c, () => blocksText(c, o.size));
}

export function calcDense(
  o: { in: number; growth: number; layers: number; bottleneck: number; compression: number } & Formatted,
): string {
  const c = usage(() =>
    denseBlock({
      inChannels: o.in,
      growthRate: o.growth,
      layers: o.layers,
      bottleneckFactor: o.bottleneck,
      compression: o.compression,
    }),
  );
  return emit(o.format, c, () => denseText(c, o.bottleneck, o.compression));
}

export function registerCalc(program: Command, print: (text: string) => void): void {
  const calc = program
    .command('calc')
    .description("the lecture's hand calculations (parameters, receptive fields, channels) for any sizes")
    .addHelpText(
      'after',
      [
        '\nExamples:',
        '  convkit calc stack                             two 3x3 vs one 5x5 at 128 channels (the lecture)',
        '  convkit calc stack --count 3 --channels 512    three 3x3 vs one 7x7 (VGG)',
        '  convkit calc bottleneck --reduce 64            a 1x1 reduction to 64 channels before the 3x3',
        "  convkit calc dense --in 256 --layers 24        DenseNet-121's third block",
      ].join('\n'),
    );
  const json = (): ReturnType<typeof formatOption> => formatOption(['text', 'json']);
  const L = CALC_LIMITS;
  const channels = (flags: string, description: string, fallback: number): Option =>
    intOption(flags, description, { min: 1, max: L.channels }, fallback);
  const kernel = (description: string, fallback: number): Option =>
    intOption('--kernel <k>', description, { min: 1, max: L.kernel }, fallback);

  calc
    .command('stack')
    .description('stacked small kernels vs one large kernel: the same receptive field for fewer parameters (VGG)')
    .addOption(kernel('side of each small kernel', 3))
    .addOption(intOption('--count <n>', 'how many are stacked', { min: 1, max: L.count }, 2))
    .addOption(channels('--channels <c>', 'channels in and out of every layer', 128))
    .option('--bias', 'count biases too (the lecture does not)')
    .addOption(json())
    .action((o) => print(calcStack(o)));

  calc
    .command('bottleneck')
    .description('a k x k convolution directly vs after a 1x1 channel reduction (GoogLeNet, ResNet bottleneck)')
    .addOption(channels('--in <c>', 'input channels', 128))
    .addOption(channels('--reduce <c>', 'channels after the 1x1 reduction', 32))
    .addOption(channels('--out <c>', 'output channels', 128))
    .addOption(kernel('the convolution after the reduction', 3))
    .option('--bias', 'count biases too')
    .addOption(json())
    .action((o) => print(calcBottleneck(o)));

  const a = INCEPTION_3A;
  calc
    .command('inception')
    .description("an Inception module with and without its 1x1 reductions (defaults: the paper's inception (3a))")
    .addOption(channels('--in <c>', 'input channels', a.inChannels))
    .addOption(channels('--c1 <c>', '1x1 branch channels', a.ch1x1))
    .addOption(channels('--c3-reduce <c>', '1x1 reduction before the 3x3', a.ch3x3reduce))
    .addOption(channels('--c3 <c>', '3x3 branch channels', a.ch3x3))
    .addOption(channels('--c5-reduce <c>', '1x1 reduction before the 5x5', a.ch5x5reduce))
    .addOption(channels('--c5 <c>', '5x5 branch channels', a.ch5x5))
    .addOption(channels('--pool-proj <c>', '1x1 projection after the 3x3 max pool', a.poolProj))
    .option('--bias', 'count biases too')
    .addOption(json())
    .action((o) => print(calcInception(o)));

  calc
    .command('block')
    .description('ResNet basic block vs bottleneck with the same 3x3 width')
    .addOption(channels('--width <c>', 'channels of the 3x3 convolutions', 64))
    .addOption(intOption('--expansion <e>', 'bottleneck output channels / width', { min: 1, max: L.expansion }, 4))
    .addOption(intOption('--size <s>', 'feature-map height and width, for multiply-adds', { min: 1, max: L.size }, 56))
    .addOption(json())
    .action((o) => print(calcBlock(o)));

  calc
    .command('dense')
    .description('channel growth in a DenseNet dense block and compression in the transition after it')
    .addOption(channels('--in <c>', 'channels entering the block', 64))
    .addOption(channels('--growth <k>', 'growth rate: channels each layer adds', 32))
    .addOption(intOption('--layers <n>', 'layers in the block', { min: 1, max: L.layers }, 6))
    .addOption(
      intOption(
        '--bottleneck <f>',
        '1x1 bottleneck width as a multiple of the growth rate (0: none)',
        { min: 0, max: L.bottleneckFactor },
        4,
      ),
    )
    .addOption(
      numberOption(
        '--compression <x>',
        'fraction of channels the transition keeps',
        { min: 0, max: 1, aboveMin: true },
        0.5,
      ),
    )
    .addOption(json())
    .action((o) => print(calcDense(o)));
}
