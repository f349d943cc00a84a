/** Text output of the lecture's calculators: the numbers, the formula behind them, and what they say. */
import type {
  DenseComparison,
  InceptionComparison,
  ReductionComparison,
  StackComparison,
  BlockCost,
} from '../../analysis/calculators.js';
import { formatCount } from './numbers.js';
import { textTable } from './table.js';

const times = (r: number): string => `${r.toFixed(2)}x`;
const k2 = (k: number): string => `${k}x${k}`;

export function stackText(c: StackComparison): string {
  const big = c.single.kernel;
  const rows = [
    [
      `${c.count} x ${k2(c.kernel)} stacked`,
      String(c.count),
      k2(c.receptiveField),
      formatCount(c.stacked.params),
      String(c.stacked.nonlinearities),
    ],
    [`1 x ${k2(big)}`, '1', k2(big), formatCount(c.single.params), '1'],
  ];
  return [
    `${c.count} stacked ${k2(c.kernel)} convolutions vs one ${k2(big)}, ${c.channels} -> ${c.channels} channels, stride 1 (weights only):`,
    '',
    ...textTable(
      [
        { header: '', align: 'left' },
        { header: 'layers', align: 'right' },
        { header: 'receptive field', align: 'right' },
        { header: 'parameters', align: 'right' },
        { header: 'ReLUs', align: 'right' },
      ],
      rows,
    ),
    '',
    `receptive field: ${c.count} x (${c.kernel} - 1) + 1 = ${c.receptiveField}`,
    `stacked: ${c.count} x ${c.kernel} x ${c.kernel} x ${c.channels} x ${c.channels} = ${formatCount(c.stacked.params)}`,
    `single:  ${big} x ${big} x ${c.channels} x ${c.channels} = ${formatCount(c.single.params)}`,
    `Same receptive field; the single kernel needs ${times(c.ratio)} the stack's parameters, and the stack adds ${c.count - 1} more non-linearit${c.count - 1 === 1 ? 'y' : 'ies'} (VGG's argument).`,
  ].join('\n');
}

export function reductionText(c: ReductionComparison): string {
  const k = c.kernel;
  return [
    `${k2(k)} convolution ${c.inChannels} -> ${c.outChannels}, directly or after a 1x1 reduction to ${c.reduced} channels (weights only):`,
    '',
    `direct:          ${k} x ${k} x ${c.inChannels} x ${c.outChannels} = ${formatCount(c.direct.params)}`,
    `with reduction:  1 x 1 x ${c.inChannels} x ${c.reduced} + ${k} x ${k} x ${c.reduced} x ${c.outChannels} = ${formatCount(c.withReduction.reduceParams)} + ${formatCount(c.withReduction.convParams)} = ${formatCount(c.withReduction.params)}`,
    '',
    c.ratio >= 1
      ? `The 1x1 reduction cuts the parameters (and multiply-adds per position) by ${times(c.ratio)} (GoogLeNet's and the ResNet bottleneck's idea).`
      : `Here the reduction costs more: ${times(1 / c.ratio)} the parameters of the direct convolution (the reduced width is too large to help).`,
  ].join('\n');
}

export function inceptionText(c: InceptionComparison): string {
  const s = c.spec;
  const rows = c.branches.map((b) => [
    b.branch,
    formatCount(b.withoutReduction.params),
    String(b.withoutReduction.outChannels),
    formatCount(b.withReduction.params),
    String(b.withReduction.outChannels),
  ]);
  rows.push([
    'total',
    formatCount(c.withoutReduction.params),
    String(c.withoutReduction.outChannels),
    formatCount(c.withReduction.params),
    String(c.withReduction.outChannels),
  ]);
  return [
    `Inception module on ${s.inChannels} channels: 1x1 ${s.ch1x1}, 3x3 ${s.ch3x3reduce} -> ${s.ch3x3}, 5x5 ${s.ch5x5reduce} -> ${s.ch5x5}, pool projection ${s.poolProj} (weights only):`,
    '',
    ...textTable(
      [
        { header: 'branch', align: 'left' },
        { header: 'naive params', align: 'right' },
        { header: 'naive channels', align: 'right' },
        { header: 'with 1x1 params', align: 'right' },
        { header: 'with 1x1 channels', align: 'right' },
      ],
      rows,
    ),
    '',
    'naive: 3x3 and 5x5 straight from the input, and the pooling branch passes every input channel on, so the output grows with each module;',
    `with 1x1 reductions: ${times(c.withoutReduction.params / c.withReduction.params)} fewer parameters, and ${c.withReduction.outChannels} instead of ${c.withoutReduction.outChannels} output channels.`,
  ].join('\n');
}

export function blocksText(
  blocks: { basic: BlockCost; bottleneck: BlockCost; wideBasic: BlockCost },
  size: number,
): string {
  const list = [blocks.basic, blocks.bottleneck, blocks.wideBasic];
  const rows = list.map((b) => [
    b.name,
    `${b.inChannels} -> ${b.outChannels}`,
    b.convs.map((c) => `${k2(c.kernel)} ${c.inChannels}->${c.outChannels}`).join(', '),
    formatCount(b.convParams),
    formatCount(b.bnParams),
    formatCount(b.params),
    formatCount(b.macs),
  ]);
  return [
    `ResNet blocks whose 3x3 convolutions have ${blocks.basic.inChannels} channels (conv + BN after each conv, no shortcut projection; MACs on a ${size}x${size} map):`,
    '',
    ...textTable(
      [
        { header: 'block', align: 'left' },
        { header: 'in -> out', align: 'left' },
        { header: 'convolutions', align: 'left' },
        { header: 'conv params', align: 'right' },
        { header: 'BN params', align: 'right' },
        { header: 'params', align: 'right' },
        { header: 'MACs', align: 'right' },
      ],
      rows,
    ),
    '',
    `The bottleneck carries ${blocks.bottleneck.outChannels} channels for ${times(blocks.bottleneck.params / blocks.basic.params)} the basic block's parameters, one layer deeper;`,
    `a basic block that wide would need ${times(blocks.wideBasic.params / blocks.bottleneck.params)} the bottleneck's parameters.`,
  ].join('\n');
}

export function denseText(c: DenseComparison, bottleneckFactor: number, compression: number): string {
  const rows = c.layers.map((l) => [
    String(l.index),
    String(l.inChannels),
    String(l.outChannels),
    formatCount(l.params),
  ]);
  const layer =
    bottleneckFactor > 0
      ? `BN-ReLU-1x1 (${bottleneckFactor * c.growthRate})-BN-ReLU-3x3 (${c.growthRate})`
      : `BN-ReLU-3x3 (${c.growthRate})`;
  return [
    `Dense block: ${c.layers.length} layers of ${layer}, growth rate ${c.growthRate}, ${c.inChannels} channels in:`,
    '',
    ...textTable(
      [
        { header: 'layer', align: 'right' },
        { header: 'sees channels', align: 'right' },
        { header: 'channels after', align: 'right' },
        { header: 'params', align: 'right' },
      ],
      rows,
    ),
    '',
    `block: ${c.inChannels} + ${c.layers.length} x ${c.growthRate} = ${c.outChannels} channels, ${formatCount(c.blockParams)} parameters (BN scale and shift included)`,
    `transition (BN-ReLU-1x1 conv-2x2 avg pool, compression ${compression}): ${c.transition.inChannels} -> ${c.transition.outChannels} channels, ${formatCount(c.transition.params)} parameters, half the height and width`,
    "Concatenation makes the channels grow with every layer; the 1x1 bottleneck and the transition's compression keep the cost in check.",
  ].join('\n');
}
