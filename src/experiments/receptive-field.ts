/**
 * `receptive-field`: how far a unit sees. (1) Stacked 3x3 convolutions against one larger kernel:
 * n of them see (2n + 1) x (2n + 1) pixels with 9 n C^2 weights against (2n + 1)^2 C^2; the field
 * is measured on stacks built on the meta backend. (2) The theoretical field layer by layer in every
 * zoo model (the summary rows). (3) The effective field (Luo et al. 2016): the gradient of the
 * centre unit of CIFAR ResNet-20's last convolutional map with respect to the input, on an
 * untrained net, and the square that holds 95% of its mass against the theoretical field.
 */
import { compareStack } from '../analysis/calculators.js';
import { summarize } from '../analysis/summary.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { getBackend, withBackend } from '../backend/registry.js';
import { manualSeed } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { getModel, MODELS } from '../models/registry.js';
import type { ResNet } from '../models/resnet-net.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { randn } from '../ops/creation.js';
import { slice } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { heatmapSpec, linesSpec, type LinePoint } from './charts.js';
import { int, table, times } from './format.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

export interface StackRow {
  count: number;
  /** Field of n stacked 3x3 (measured on built layers). */
  field: number;
  stackedParams: number;
  singleKernel: number;
  singleParams: number;
}

/** n = 1 .. maxCount stacked 3x3 convolutions at `channels`, field measured on the meta backend. */
export function stackRows(maxCount: number, channels: number): StackRow[] {
  return Array.from({ length: maxCount }, (_, i) => {
    const count = i + 1;
    const c = compareStack({ kernel: 3, count, channels });
    const net = withBackend(
      'meta',
      () =>
        new Sequential(
          ...Array.from({ length: count }, () => new Conv2d(channels, channels, 3, { padding: 1, bias: false })),
        ),
    );
    const s = summarize(net, { input: [channels, 64, 64] });
    const last = s.rows[s.rows.length - 1];
    return {
      count,
      field: last.receptiveField?.size[0] ?? 0,
      stackedParams: s.totals.params,
      singleKernel: c.single.kernel,
      singleParams: c.single.params,
    };
  });
}

export interface ModelFieldRow {
  model: string;
  /** Theoretical field after each layer with a window (conv or pool), in call order; the running largest. */
  fields: number[];
  /** The field of the features the head reads (summary totals). */
  final: number;
  input: number;
}

/** The running largest field over the windowed layers of every zoo model at its default input. */
export function modelFields(): ModelFieldRow[] {
  return MODELS.map((m) => {
    const s = summarizeEntry(m);
    let top = 0;
    const fields: number[] = [];
    for (const r of s.rows) {
      if (r.window === null || r.receptiveField === null || r.receptiveField.global) continue;
      top = Math.max(top, r.receptiveField.size[0]);
      fields.push(top);
    }
    return { model: m.name, fields, final: s.totals.receptiveField?.size[0] ?? 0, input: m.input[1] };
  });
}

export interface EffectiveField {
  model: string;
  backend: string;
  input: number;
  /** Last convolutional map [channels, height, width] and the unit taken (its centre). */
  map: [number, number, number];
  unit: [number, number];
  /** Input pixel the unit's theoretical field is centred on. */
  centre: [number, number];
  theoretical: number;
  /** Theoretical field clipped to the image around the centre (a side in pixels). */
  theoreticalInImage: number;
  /** Smallest square side around the centre holding 95% of the gradient mass. */
  effective95: number;
  /** |d unit / d input| summed over the input channels, row-major. */
  heat: number[];
}

/**
 * The gradient of the centre unit (summed over the channels) of resnet20_cifar's last stage with
 * respect to an input of side `size`, on the current backend, untrained (eval mode, initial BN).
 */
export function effectiveField(size: number, seed: number): EffectiveField {
  const entry = getModel('resnet20_cifar');
  manualSeed(seed);
  const net = entry.build() as ResNet;
  net.eval();
  const theory = summarizeEntry(entry, { input: [3, size, size] }).rows.find((r) => r.path === 'layer3');
  if (!theory?.receptiveField || !theory.outputShape) throw new Error('resnet20_cifar: no field for layer3');
  const x = randn([1, 3, size, size]).requireGrad();
  let y: Tensor = net.relu.call(net.bn1.call(net.conv1.call(x)));
  for (const layer of net.layers) y = layer.call(y);
  const [, channels, h, w] = y.shape;
  const unit: [number, number] = [Math.floor(h / 2), Math.floor(w / 2)];
  const picked = sum(slice(slice(y, 2, unit[0], unit[0] + 1), 3, unit[1], unit[1] + 1));
  picked.backward();
  const g = x.grad?.toArray();
  if (!g) throw new Error('no gradient reached the input');
  const heat = new Array<number>(size * size).fill(0);
  for (let c = 0; c < 3; c++) for (let i = 0; i < size * size; i++) heat[i] += Math.abs(g[c * size * size + i]);
  const f = theory.receptiveField;
  const centre: [number, number] = [f.start[0] + unit[0] * f.jump[0], f.start[1] + unit[1] * f.jump[1]];
  const total = heat.reduce((a, b) => a + b, 0);
  let effective95 = 0;
  for (let r = 0; r <= size; r++) {
    let inside = 0;
    for (let yy = 0; yy < size; yy++)
      for (let xx = 0; xx < size; xx++)
        if (Math.abs(yy - centre[0]) <= r && Math.abs(xx - centre[1]) <= r) inside += heat[yy * size + xx];
    if (inside >= 0.95 * total) {
      effective95 = 2 * r + 1;
      break;
    }
  }
  const half = (f.size[0] - 1) / 2;
  const lo = Math.max(0, centre[0] - half);
  const hi = Math.min(size - 1, centre[0] + half);
  return {
    model: 'resnet20_cifar',
    backend: getBackend().name,
    input: size,
    map: [channels, h, w],
    unit,
    centre,
    theoretical: f.size[0],
    theoreticalInImage: hi - lo + 1,
    effective95,
    heat,
  };
}

const CHART_MODELS = [
  'alexnet',
  'vgg16',
  'googlenet',
  'resnet18',
  'resnet50',
  'densenet121',
  'resnet20_cifar',
  'densenet_bc_100_cifar',
];

export async function runReceptiveField(settings: ExperimentSettings): Promise<ExperimentResult> {
  const channels = 64;
  const stack = stackRows(settings.mode === 'full' ? 8 : 5, channels);
  const stackHeld = stack.every(
    (r) => r.field === 2 * r.count + 1 && (r.count === 1 || r.stackedParams < r.singleParams),
  );
  const models = modelFields();
  const size = settings.mode === 'full' ? 128 : 64;
  const eff = effectiveField(size, settings.seed);
  settings.log?.(`receptive-field: effective field of resnet20_cifar at ${size}x${size} on ${eff.backend}`);
  const effHeld = eff.effective95 < eff.theoreticalInImage;
  const grows = models.filter(
    (m) => m.fields.every((v, i) => i === 0 || v >= m.fields[i - 1]) && m.final > m.fields[0],
  );

  const claims: ClaimResult[] = [
    {
      id: 'stacked-3x3',
      claim:
        'A stack of n 3x3 convolutions sees a (2n + 1) x (2n + 1) field, as one (2n + 1) x (2n + 1) kernel does, with 9n C^2 weights instead of (2n + 1)^2 C^2.',
      measured: `Stacks of 1 to ${stack.length} 3x3 convolutions built at ${channels} channels see ${stack.map((r) => r.field).join(', ')} pixels; from n = 2 they have ${stack
        .slice(1)
        .map((r) => times(r.singleParams / r.stackedParams))
        .join(', ')} fewer weights than the single kernel.`,
      held: stackHeld,
    },
    {
      id: 'field-grows',
      claim:
        'The receptive field grows with depth: by (k - 1) x jump per layer, multiplied by every stride, so the last feature maps of the classic networks see most or all of the image.',
      measured: `In ${grows.length} of ${models.length} zoo models the field never shrinks along the layers and ends larger than it starts; the last feature maps see ${models
        .filter((m) => CHART_MODELS.includes(m.model))
        .map((m) => `${m.model} ${m.final} px of ${m.input}`)
        .join(', ')}.`,
      held: grows.length === models.length,
    },
    {
      id: 'effective-field',
      claim:
        'The effective receptive field (where the gradient actually comes from) is much smaller than the theoretical one, concentrated in its centre.',
      measured: `Untrained resnet20_cifar, ${size}x${size} input, centre unit of the ${eff.map[1]}x${eff.map[2]} last map: 95% of |gradient| lies in a ${eff.effective95}x${eff.effective95} square, against a theoretical field of ${eff.theoretical}x${eff.theoretical} (${eff.theoreticalInImage}x${eff.theoreticalInImage} of it inside the image).`,
      held: effHeld,
    },
  ];
  const lines: LinePoint[] = models
    .filter((m) => CHART_MODELS.includes(m.model))
    .flatMap((m) => m.fields.map((y, i) => ({ series: m.model, x: i + 1, y })));
  const clip = (v: number): number => Math.max(0, Math.min(size - 1, v));
  const box = (side: number, label: string, color: string) => {
    const half = (side - 1) / 2;
    return {
      label,
      color,
      x0: clip(eff.centre[1] - half),
      x1: clip(eff.centre[1] + half),
      y0: clip(eff.centre[0] - half),
      y1: clip(eff.centre[0] + half),
    };
  };
  return {
    name: 'receptive-field',
    title: 'Receptive fields: stacked 3x3 kernels, growth with depth, the effective field',
    mode: settings.mode,
    claims,
    sections: [
      {
        heading: `Stacked 3x3 against one large kernel (${channels} channels in and out)`,
        body: table(
          ['3x3 layers', 'field (measured)', 'weights', 'single kernel', 'its weights', 'ratio'],
          stack.map((r) => [
            r.count,
            `${r.field}x${r.field}`,
            int(r.stackedParams),
            `${r.singleKernel}x${r.singleKernel}`,
            int(r.singleParams),
            times(r.singleParams / r.stackedParams),
          ]),
        ),
      },
      {
        heading: 'Theoretical field of the last feature maps',
        body: table(
          ['model', 'input side', 'field (px)', 'layers with a window'],
          models.map((m) => [m.model, m.input, m.final, m.fields.length]),
        ),
      },
      {
        heading: 'Effective field',
        body: `resnet20_cifar, untrained (torchvision-style initialisation, seed ${settings.seed}, eval mode), one ${size}x${size} input of standard normal noise on the ${eff.backend} backend; the unit at row ${eff.unit[0]}, column ${eff.unit[1]} of the ${eff.map[0]}x${eff.map[1]}x${eff.map[2]} output of layer3, summed over its channels, differentiated with respect to the input; |gradient| summed over the 3 input channels. Its theoretical field is centred on pixel (${eff.centre[0]}, ${eff.centre[1]}) and ${eff.theoretical} px wide; the 95% square is the smallest square around that centre holding 95% of the gradient mass: ${eff.effective95} px.`,
      },
    ],
    charts: [
      {
        file: 'field-by-layer.svg',
        caption: 'Theoretical receptive field after each conv or pooling layer (running largest), by model',
        spec: linesSpec(
          'Receptive field along the layers',
          lines,
          {
            x: 'layer with a window (conv or pool), in call order',
            y: 'field (pixels, log scale)',
            yLog: true,
            legend: 'model',
            xInteger: true,
          },
          'theoretical field from the summary rows; each model at its default input',
        ),
      },
      {
        file: 'effective-field.svg',
        caption: 'Effective receptive field of resnet20_cifar (untrained): |d centre unit / d input|',
        spec: heatmapSpec(
          'Effective receptive field, resnet20_cifar (untrained)',
          eff.heat,
          [size, size],
          [
            box(eff.theoretical, `theoretical field ${eff.theoretical} px (clipped to the image)`, '#ff7f0e'),
            box(eff.effective95, `95% of the gradient mass: ${eff.effective95} px`, '#e41a1c'),
          ],
          '|gradient|',
          `centre unit of layer3, ${size}x${size} input`,
        ),
      },
    ],
    data: { stack, models, effectiveField: { ...eff, heat: eff.heat } },
    notRun: ['the effective field of a trained tiny net: a later slice'],
  };
}

export const RECEPTIVE_FIELD: Experiment = {
  name: 'receptive-field',
  title: 'Receptive fields: stacked 3x3 kernels, growth with depth, the effective field',
  summary:
    'stacked 3x3 vs large kernels, the field layer by layer in every model, and the effective field of ResNet-20',
  lesson:
    'Stacked 3x3 convolutions see as far as one large kernel with fewer weights; fields grow with depth, and the effective field is smaller than the theoretical one.',
  trains: false,
  tiny: {},
  run: runReceptiveField,
};
