/**
 * `receptive-field`: how far a unit sees. (1) Stacked 3x3 convolutions against one larger kernel:
 * n of them see (2n + 1) x (2n + 1) pixels with 9 n C^2 weights against (2n + 1)^2 C^2; the field
 * is measured on stacks built on the meta backend. (2) The theoretical field layer by layer in every
 * zoo model (the summary rows). (3) The effective field (Luo et al. 2016) of a plain stack of 3x3
 * convolutions, untrained and briefly trained, against its theoretical field
 * (receptive-field-effective.ts). (4) The effective field at every stage of the zoo models as
 * initialised (receptive-field-stages.ts).
 */
import { compareStack } from '../analysis/calculators.js';
import { summarize } from '../analysis/summary.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { withBackend } from '../backend/registry.js';
import { MODELS } from '../models/registry.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { linesSpec, type LinePoint } from './charts.js';
import { int, pct, table, times } from './format.js';
import { effectiveFieldCharts, effectiveFields, type FieldMeasure } from './receptive-field-effective.js';
import { STAGE_PLAN, stageChart, stageClaim, stageFields, stageSection } from './receptive-field-stages.js';
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
  const grows = models.filter(
    (m) => m.fields.every((v, i) => i === 0 || v >= m.fields[i - 1]) && m.final > m.fields[0],
  );
  const eff = await effectiveFields(settings);
  const { untrained: u, trained: t } = eff;
  settings.log?.(
    `receptive-field: effective field of the ${eff.net} on ${eff.backend}: 95% in ${u.side95} px untrained, ${t.side95} px trained, of ${eff.theoretical} px`,
  );
  const stages = stageFields(settings);
  const [, h, w] = eff.input;
  const side = (m: FieldMeasure) => `${m.side95}x${m.side95} (${m.side95Interpolated.toFixed(2)} px interpolated)`;
  const outsideTested = u.outsidePixels > 0;

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
      id: 'outside-zero',
      claim: 'No pixel outside the theoretical receptive field affects the unit: its gradient there is exactly 0.',
      measured: outsideTested
        ? `${eff.net}, ${h}x${w} images: of the ${u.outsidePixels} pixels outside the ${eff.theoretical} px field, ${u.outsideNonzero} (untrained) and ${t.outsideNonzero} (trained) have a gradient that is not 0; the largest there is ${u.outsideMax} and ${t.outsideMax}.`
        : `The ${eff.theoretical} px field covers the whole ${h}x${w} image: no pixel lies outside it.`,
      held: outsideTested ? u.outsideNonzero === 0 && t.outsideNonzero === 0 : null,
    },
    {
      id: 'effective-field',
      claim:
        'The effective receptive field (where the gradient actually comes from) is much smaller than the theoretical one, concentrated in its centre (Luo et al. 2016); here: its 95% square covers less than half the theoretical area.',
      measured: `${eff.net}, centre unit of the last map, |gradient| averaged over ${eff.images} test images: 95% of it lies in a ${side(u)} square untrained and ${side(t)} trained, against a theoretical field of ${eff.theoretical}x${eff.theoretical} (${eff.theoreticalInImage}x${eff.theoreticalInImage} inside the image): ${pct(u.areaFraction95)} and ${pct(t.areaFraction95)} of its area.`,
      held: u.areaFraction95 < 0.5 && t.areaFraction95 < 0.5,
    },
    {
      id: 'training-grows',
      claim: 'Training enlarges the effective receptive field (Luo et al. 2016).',
      measured: `After ${eff.training.epochs.length} epoch(s) on ${int(eff.trainImages)} images (test accuracy ${pct(eff.training.testAccuracy)}) the 95% square went from ${u.side95Interpolated.toFixed(2)} to ${t.side95Interpolated.toFixed(2)} px (interpolated; a change of ${(t.side95Interpolated - u.side95Interpolated).toFixed(3)} px) and the RMS distance of the gradient mass from the centre from ${u.rmsRadius.toFixed(2)} to ${t.rmsRadius.toFixed(2)} px: it ${t.side95Interpolated > u.side95Interpolated ? 'grew' : 'did not grow'}.`,
      held: t.side95Interpolated > u.side95Interpolated,
    },
    stageClaim(stages),
  ];
  const lines: LinePoint[] = models
    .filter((m) => CHART_MODELS.includes(m.model))
    .flatMap((m) => m.fields.map((y, i) => ({ series: m.model, x: i + 1, y })));
  const row = (label: string, m: FieldMeasure) => [
    label,
    m.side95,
    m.side95Interpolated.toFixed(2),
    pct(m.areaFraction95),
    m.rmsRadius.toFixed(2),
    `${m.outsideNonzero} of ${m.outsidePixels}`,
  ];
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
        heading: 'Effective field, untrained and trained',
        body: `${table(
          [
            'net',
            '95% square (px)',
            'interpolated',
            'of the theoretical area',
            'RMS radius (px)',
            'outside pixels not 0',
          ],
          [row('untrained', u), row('trained', t)],
        )}\n\nThe ${eff.net}, then a linear layer on the flattened map, trained by trainNets on ${int(eff.trainImages)} images of ${settings.data} (Adam, lr 0.002, batch 32, ${eff.training.epochs.length} epoch(s); test accuracy ${pct(eff.training.testAccuracy)} on ${int(eff.testImages)} test images); "untrained" is the same net rebuilt from the same seed ${settings.seed}, as training started. Both in eval mode on the ${eff.backend} backend: the unit at row ${eff.unit[0]}, column ${eff.unit[1]} of the last map, summed over its ${eff.width} channels, differentiated with respect to the first ${eff.images} test images (normalised as in training); |gradient| summed over the ${eff.input[0]} input channel(s) and averaged over the images. Its theoretical field (from the summary of the built stack) is centred on pixel (${eff.centre[0]}, ${eff.centre[1]}) and ${eff.theoretical} px wide; the 95% square is the smallest square around that centre holding 95% of the gradient mass, the interpolated side lies between it and the next smaller square.`,
      },
      stageSection(stages),
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
      ...effectiveFieldCharts(eff),
      stageChart(stages),
    ],
    data: { stack, models, effectiveField: eff, stages },
    notRun:
      settings.mode === 'quick'
        ? [
            '--full trains the stack longer on more data (20,000 images, 4 epochs, width 32) and averages the gradient over 1,000 test images',
            `--full measures the effective field at every stage of all ${STAGE_PLAN.full.models.length} zoo models at ${STAGE_PLAN.full.side} px over ${STAGE_PLAN.full.images} images (--quick: ${STAGE_PLAN.quick.models.join(', ')} at ${STAGE_PLAN.quick.side} px over ${STAGE_PLAN.quick.images})`,
          ]
        : [],
  };
}

export const RECEPTIVE_FIELD: Experiment = {
  name: 'receptive-field',
  title: 'Receptive fields: stacked 3x3 kernels, growth with depth, the effective field',
  summary:
    'stacked 3x3 vs large kernels, the field layer by layer in every model, the effective field of a plain 3x3 stack, untrained and trained, and at every stage of the zoo models',
  lesson:
    'Stacked 3x3 convolutions see as far as one large kernel with fewer weights; fields grow with depth, and the effective field is smaller than the theoretical one.',
  trains: true,
  tiny: { trainLimit: 64, testLimit: 64, epochs: 1 },
  run: runReceptiveField,
};
