/** `convkit calc ...`: the lecture's hand calculations for any sizes. */
import type { Command } from 'commander';
import {
  compareBlocks,
  compareInception,
  compareReduction,
  compareStack,
  denseBlock,
  INCEPTION_3A,
} from '../analysis/calculators.js';
import { formatOption, integer, numberIn, toJson, type Format } from './args.js';
import { blocksText, denseText, inceptionText, reductionText, stackText } from './format/calc.js';

interface Formatted {
  format: Format;
}

const emit = (format: Format, data: unknown, text: () => string): string => (format === 'json' ? toJson(data) : text());

export function calcStack(o: { kernel: number; count: number; channels: number; bias?: boolean } & Formatted): string {
  const c = compareStack(o);
  return emit(o.format, c, () => stackText(c));
}

export function calcBottleneck(
  o: { in: number; reduce: number; out: number; kernel: number; bias?: boolean } & Formatted,
): string {
  const c = compareReduction({
    inChannels: o.in,
    reduced: o.reduce,
    outChannels: o.out,
    kernel: o.kernel,
    bias: o.bias,
  });
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
  const c = compareInception(
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
  );
  return emit(o.format, c, () => inceptionText(c));
}

export function calcBlock(o: { width: number; expansion: number; size: number } & Formatted): string {
  const c = compareBlocks(o);
  return emit(o.format, c, () => blocksText(c, o.size));
}

export function calcDense(
  o: { in: number; growth: number; layers: number; bottleneck: number; compression: number } & Formatted,
): string {
  const c = denseBlock({
    inChannels: o.in,
    growthRate: o.growth,
    layers: o.layers,
    bottleneckFactor: o.bottleneck,
    compression: o.compression,
  });
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
  const n = (name: string): ((v: string) => number) => integer(name, 1);

  calc
    .command('stack')
    .description('stacked small kernels vs one large kernel: the same receptive field for fewer parameters (VGG)')
    .option('--kernel <k>', 'side of each small kernel', n('--kernel'), 3)
    .option('--count <n>', 'how many are stacked', n('--count'), 2)
    .option('--channels <c>', 'channels in and out of every layer', n('--channels'), 128)
    .option('--bias', 'count biases too (the lecture does not)')
    .addOption(json())
    .action((o) => print(calcStack(o)));

  calc
    .command('bottleneck')
    .description('a k x k convolution directly vs after a 1x1 channel reduction (GoogLeNet, ResNet bottleneck)')
    .option('--in <c>', 'input channels', n('--in'), 128)
    .option('--reduce <c>', 'channels after the 1x1 reduction', n('--reduce'), 32)
    .option('--out <c>', 'output channels', n('--out'), 128)
    .option('--kernel <k>', 'the convolution after the reduction', n('--kernel'), 3)
    .option('--bias', 'count biases too')
    .addOption(json())
    .action((o) => print(calcBottleneck(o)));

  const a = INCEPTION_3A;
  calc
    .command('inception')
    .description("an Inception module with and without its 1x1 reductions (defaults: the paper's inception (3a))")
    .option('--in <c>', 'input channels', n('--in'), a.inChannels)
    .option('--c1 <c>', '1x1 branch channels', n('--c1'), a.ch1x1)
    .option('--c3-reduce <c>', '1x1 reduction before the 3x3', n('--c3-reduce'), a.ch3x3reduce)
    .option('--c3 <c>', '3x3 branch channels', n('--c3'), a.ch3x3)
    .option('--c5-reduce <c>', '1x1 reduction before the 5x5', n('--c5-reduce'), a.ch5x5reduce)
    .option('--c5 <c>', '5x5 branch channels', n('--c5'), a.ch5x5)
    .option('--pool-proj <c>', '1x1 projection after the 3x3 max pool', n('--pool-proj'), a.poolProj)
    .option('--bias', 'count biases too')
    .addOption(json())
    .action((o) => print(calcInception(o)));

  calc
    .command('block')
    .description('ResNet basic block vs bottleneck with the same 3x3 width')
    .option('--width <c>', 'channels of the 3x3 convolutions', n('--width'), 64)
    .option('--expansion <e>', 'bottleneck output channels / width', n('--expansion'), 4)
    .option('--size <s>', 'feature-map height and width, for multiply-adds', n('--size'), 56)
    .addOption(json())
    .action((o) => print(calcBlock(o)));

  calc
    .command('dense')
    .description('channel growth in a DenseNet dense block and compression in the transition after it')
    .option('--in <c>', 'channels entering the block', n('--in'), 64)
    .option('--growth <k>', 'growth rate: channels each layer adds', n('--growth'), 32)
    .option('--layers <n>', 'layers in the block', n('--layers'), 6)
    .option(
      '--bottleneck <f>',
      '1x1 bottleneck width as a multiple of the growth rate (0: none)',
      integer('--bottleneck', 0),
      4,
    )
    .option('--compression <x>', 'fraction of channels the transition keeps', numberIn('--compression', 0, 1), 0.5)
    .addOption(json())
    .action((o) => print(calcDense(o)));
}
