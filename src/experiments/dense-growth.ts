/**
 * `dense-growth`: DenseNet's channels and the memory price of concatenation. Channels through the
 * dense blocks and transitions of densenet121 and densenet_bc_100_cifar (layer i of a block sees
 * k0 + i k channels), read from the built models; and the activation bytes of a dense block whose
 * every concatenation is a new tensor (the naive implementation, as the analysis counts a forward
 * pass) against a ResNet-like block of the same depth and equal width that adds instead.
 */
import { denseBlock } from '../analysis/calculators.js';
import { summarize } from '../analysis/summary.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { withBackend } from '../backend/registry.js';
import { DenseBlock } from '../models/densenet-blocks.js';
import { getModel } from '../models/registry.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Residual } from '../nn/blocks.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { linesSpec, type LinePoint } from './charts.js';
import { int, mib, table, times } from './format.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

export interface BlockChannels {
  block: string;
  inChannels: number;
  layers: number;
  growthRate: number;
  /** Channels each dense layer sees (k0 + i k), read from the built model's conv1 inputs. */
  layerInputs: number[];
  outChannels: number;
  /** Channels after the following transition (null after the last block). */
  transitionOut: number | null;
  size: [number, number];
}

export interface ModelChannels {
  model: string;
  /** Block input, block output, transition output, ... in order: 64, 256, 128, ... for DenseNet-121. */
  path: number[];
  blocks: BlockChannels[];
}

export function denseChannels(model: 'densenet121' | 'densenet_bc_100_cifar'): ModelChannels {
  const s = summarizeEntry(getModel(model));
  const blocks: BlockChannels[] = [];
  const path: number[] = [];
  for (const r of s.rows) {
    if (!r.inputShape || !r.outputShape) continue;
    if (r.type === 'DenseBlock') {
      const convs = s.rows.filter(
        (c) => c.type === 'Conv2d' && c.path.startsWith(`${r.path}.`) && c.path.endsWith('.conv1'),
      );
      const layerInputs = convs.map((c) => (c.inputShape as number[])[1]);
      blocks.push({
        block: r.path.replace(/^features\./, ''),
        inChannels: r.inputShape[1],
        layers: convs.length,
        growthRate: (r.outputShape[1] - r.inputShape[1]) / convs.length,
        layerInputs,
        outChannels: r.outputShape[1],
        transitionOut: null,
        size: [r.outputShape[2], r.outputShape[3]],
      });
      if (path[path.length - 1] !== r.inputShape[1]) path.push(r.inputShape[1]);
      path.push(r.outputShape[1]);
    } else if (r.type === 'Transition') {
      blocks[blocks.length - 1].transitionOut = r.outputShape[1];
      path.push(r.outputShape[1]);
    }
  }
  return { model, path, blocks };
}

/** Forward-pass bytes (analysis convention, batch 1, float32) of a dense block without its input. */
export function denseBlockBytes(
  inChannels: number,
  layers: number,
  growthRate: number,
  size: [number, number],
): number {
  const block = withBackend('meta', () => new DenseBlock(inChannels, { layers, growthRate, bnSize: 4 }));
  return summarize(block, { input: [inChannels, ...size] }).totals.forwardBytes - 4 * inChannels * size[0] * size[1];
}

/** The same depth of ResNet-like layers at constant `width`: x + (BN-ReLU-1x1 to 4k - BN-ReLU-3x3 back to width). */
export function residualBlockBytes(width: number, layers: number, growthRate: number, size: [number, number]): number {
  const mid = 4 * growthRate;
  const block = withBackend(
    'meta',
    () =>
      new Sequential(
        ...Array.from(
          { length: layers },
          () =>
            new Residual(
              new Sequential(
                new BatchNorm2d(width),
                new ReLU(),
                new Conv2d(width, mid, 1, { bias: false }),
                new BatchNorm2d(mid),
                new ReLU(),
                new Conv2d(mid, width, 3, { padding: 1, bias: false }),
              ),
            ),
        ),
      ),
  );
  return summarize(block, { input: [width, ...size] }).totals.forwardBytes - 4 * width * size[0] * size[1];
}

export interface MemoryRow {
  model: string;
  block: string;
  layers: number;
  dense: number;
  /** Residual block as wide as the dense block's output. */
  residualOut: number;
  /** Residual block as wide as the dense block's input. */
  residualIn: number;
}

export async function runDenseGrowth(settings: ExperimentSettings): Promise<ExperimentResult> {
  const models = [denseChannels('densenet121'), denseChannels('densenet_bc_100_cifar')];
  const channelHeld = models.every((m) =>
    m.blocks.every((b) => {
      const calc = denseBlock({ inChannels: b.inChannels, growthRate: b.growthRate, layers: b.layers });
      return b.layerInputs.every((c, i) => c === b.inChannels + i * b.growthRate) && calc.outChannels === b.outChannels;
    }),
  );
  const halves = models.every((m) =>
    m.blocks.every((b) => b.transitionOut === null || b.transitionOut === Math.floor(b.outChannels / 2)),
  );

  const memory: MemoryRow[] = models.flatMap((m) =>
    m.blocks.map((b) => ({
      model: m.model,
      block: b.block,
      layers: b.layers,
      dense: denseBlockBytes(b.inChannels, b.layers, b.growthRate, b.size),
      residualOut: residualBlockBytes(b.outChannels, b.layers, b.growthRate, b.size),
      residualIn: residualBlockBytes(b.inChannels, b.layers, b.growthRate, b.size),
    })),
  );
  // Growth with depth: DenseNet-121's third block (14x14, k0 256, k 32), 1 .. L layers (fewer in --quick).
  const b3 = models[0].blocks[2];
  const maxLayers = settings.mode === 'full' ? b3.layers : 12;
  const width = b3.inChannels + maxLayers * b3.growthRate;
  const curve = Array.from({ length: maxLayers }, (_, i) => ({
    layers: i + 1,
    dense: denseBlockBytes(b3.inChannels, i + 1, b3.growthRate, b3.size),
    residual: residualBlockBytes(width, i + 1, b3.growthRate, b3.size),
  }));
  const second = (ys: readonly number[]): number[] => ys.slice(2).map((y, i) => y - 2 * ys[i + 1] + ys[i]);
  const denseSecond = second(curve.map((c) => c.dense));
  const residualSecond = second(curve.map((c) => c.residual));
  const quadratic = denseSecond.every((d) => d > 0) && residualSecond.every((d) => d === 0);
  const costlierOut = memory.filter((r) => r.dense > r.residualOut).length;
  const costlierIn = memory.filter((r) => r.dense > r.residualIn).length;
  settings.log?.(`dense-growth: ${memory.length} blocks, ${curve.length} depths measured`);

  const claims: ClaimResult[] = [
    {
      id: 'growth',
      claim:
        'In a dense block layer i sees k0 + i k channels (everything before it, concatenated), the block ends with k0 + L k, and each transition halves the channels (DenseNet-121: 64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024).',
      measured: `Read from the built models: densenet121 ${models[0].path.join(' -> ')}; densenet_bc_100_cifar ${models[1].path.join(' -> ')}. Every layer's input matches k0 + i k: ${channelHeld ? 'yes' : 'no'}; every transition halves: ${halves ? 'yes' : 'no'}.`,
      held: channelHeld && halves,
    },
    {
      id: 'concat-quadratic',
      claim:
        "Concatenation is memory-hungry: a naive implementation materialises a growing concatenation for every layer, so a dense block's activations grow quadratically with its depth, where addition's grow linearly.",
      measured: `DenseNet-121's third block (14x14, k0 ${b3.inChannels}, k ${b3.growthRate}) for 1 to ${maxLayers} layers: the dense block's forward bytes have second differences ${[...new Set(denseSecond)].map(int).join(', ')} (constant and positive: quadratic), a residual block at ${width} channels ${[...new Set(residualSecond)].map(int).join(', ')} (linear). At ${maxLayers} layers: ${mib(curve[curve.length - 1].dense)} against ${mib(curve[curve.length - 1].residual)}.`,
      held: quadratic,
    },
    {
      id: 'concat-vs-add',
      claim: 'A dense block needs more activation memory than a residual block of the same depth and equal width.',
      measured: `Over the ${memory.length} dense blocks of both models, the dense block needs more than a residual block as wide as the dense block's output in ${costlierOut} of ${memory.length}, and more than one as wide as its input in ${costlierIn} of ${memory.length} (table below).`,
      held: costlierOut === memory.length,
    },
  ];
  const points: LinePoint[] = curve.flatMap((c) => [
    { series: 'dense block (concatenation)', x: c.layers, y: c.dense / 2 ** 20 },
    { series: `residual block at ${width} channels (addition)`, x: c.layers, y: c.residual / 2 ** 20 },
  ]);
  const channelPoints: LinePoint[] = models.flatMap((m) => m.path.map((c, i) => ({ series: m.model, x: i, y: c })));
  return {
    name: 'dense-growth',
    title: "DenseNet's growth: channels through the blocks and the memory of concatenation",
    mode: settings.mode,
    claims,
    sections: [
      ...models.map((m) => ({
        heading: `Channels of ${m.model}`,
        body: table(
          ['block', 'map', 'in (k0)', 'k', 'layers', 'layer inputs', 'out (k0 + L k)', 'after transition'],
          m.blocks.map((b) => [
            b.block,
            `${b.size[0]}x${b.size[1]}`,
            b.inChannels,
            b.growthRate,
            b.layers,
            `${b.layerInputs.slice(0, 3).join(', ')}, ..., ${b.layerInputs[b.layerInputs.length - 1]}`,
            b.outChannels,
            b.transitionOut ?? '-',
          ]),
        ),
      })),
      {
        heading: 'Activation memory of each dense block against residual blocks (batch 1, float32)',
        body: `${table(
          [
            'model',
            'block',
            'layers',
            'dense (concat)',
            'residual, output width',
            'ratio',
            'residual, input width',
            'ratio',
          ],
          memory.map((r) => [
            r.model,
            r.block,
            r.layers,
            mib(r.dense),
            mib(r.residualOut),
            times(r.dense / r.residualOut),
            mib(r.residualIn),
            times(r.dense / r.residualIn),
          ]),
        )}\n\nBytes of every distinct tensor a forward pass makes inside the block (the analysis's forward-pass convention: each concatenation, batch norm, ReLU and convolution output is a new tensor; the block's input is left out). The residual layer is x + (BN-ReLU-1x1 conv to 4k-BN-ReLU-3x3 conv back to the width), the dense layer's body with addition in place of concatenation.`,
      },
    ],
    charts: [
      {
        file: 'channels.svg',
        caption: 'Channels at each block input, block output and transition output',
        spec: linesSpec('Channels through the dense blocks and transitions', channelPoints, {
          x: 'step: 0 = first block in, then block out, transition out, ...',
          y: 'channels',
          legend: 'model',
          xInteger: true,
        }),
      },
      {
        file: 'concat-memory.svg',
        caption: `Activation memory against depth at 14x14 (DenseNet-121 block 3's k0 ${b3.inChannels}, k ${b3.growthRate})`,
        spec: linesSpec(
          'Concatenation against addition: activation memory',
          points,
          { x: 'layers in the block', y: 'MiB (batch 1, float32)', legend: 'block', xInteger: true },
          'naive concatenation: every layer materialises its input',
        ),
      },
    ],
    data: { channels: models, memory, curve: { block: b3.block, width, points: curve, denseSecond, residualSecond } },
    notRun:
      settings.mode === 'full'
        ? []
        : [`the depth curve stops at ${maxLayers} layers in --quick (--full: all ${b3.layers})`],
  };
}

export const DENSE_GROWTH: Experiment = {
  name: 'dense-growth',
  title: "DenseNet's growth: channels through the blocks and the memory of concatenation",
  summary: 'channels through dense blocks and transitions, and activation memory of concatenation against addition',
  lesson:
    "DenseNet's channels grow by k per layer and transitions shrink them; concatenation's memory grows quadratically with depth.",
  trains: false,
  tiny: {},
  run: runDenseGrowth,
};
