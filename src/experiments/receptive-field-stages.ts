/**
 * The effective receptive field (Luo et al. 2016) at every stage of the zoo models, freshly
 * initialised: a stage is one output resolution, and its output the call at that resolution with
 * the largest theoretical field (the shallowest, then the last, of those: a ResNet's `layer2`,
 * VGG's last ReLU before a pool). One forward pass of real test images, bilinearly resized to a
 * square input, keeps every stage's output; one backward pass per stage differentiates the centre
 * unit (summed over its channels) with respect to the input; measureField summarises each map.
 * Trained ImageNet weights cannot be had here, so every zoo model is measured as initialised.
 */
import { summarizeEntry } from '../analysis/zoo.js';
import type { LayerRow } from '../analysis/summary.js';
import { getBackend } from '../backend/registry.js';
import { withSetting } from '../core/config.js';
import { ShapeError } from '../core/errors.js';
import { Generator, manualSeed } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { loadSource, parseDataSource } from '../data/source.js';
import { resize } from '../data/resize.js';
import { asImageShape, channelStats, compose, normalize } from '../data/transforms.js';
import { getModel, MODELS } from '../models/registry.js';
import type { ModelEntry } from '../models/entry.js';
import type { Module } from '../nn/module.js';
import { traceModules } from '../nn/trace-modules.js';
import { fromArray } from '../ops/creation.js';
import { slice } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { type FieldMeasure, inputHeat, measureField, sideInImage } from './receptive-field-effective.js';
import { type LinePoint, linesSpec } from './charts.js';
import { pct, table } from './format.js';
import type { ChartSpec, ClaimResult, ExperimentSettings } from './types.js';

/** Which models, at what input side, over how many test images. Quick: the smallest model of each family. */
export const STAGE_PLAN = {
  quick: { models: ['alexnet', 'vgg11', 'googlenet', 'resnet18', 'densenet121'], side: 112, images: 8 },
  full: { models: MODELS.map((m) => m.name), side: 224, images: 16 },
  /** Runs with --test-limit below TINY_TEST_LIMIT (the tour's --tiny, the tests): one small model. */
  tiny: { models: ['resnet20_cifar'], side: 32, images: 4 },
} as const;
export const TINY_TEST_LIMIT = 100;

/** The mode's plan, or the tiny one when the test split is cut below TINY_TEST_LIMIT images. */
export function stagePlan(settings: ExperimentSettings): StagePlan {
  const tiny = settings.testLimit !== undefined && settings.testLimit < TINY_TEST_LIMIT;
  return STAGE_PLAN[tiny ? 'tiny' : settings.mode];
}

export interface StagePlan {
  models: readonly string[];
  side: number;
  images: number;
}

/** One stage: the row whose output is measured, its theoretical field and its effective field. */
export interface StageField {
  stage: number;
  /** Path of the module whose output closes the stage, and that output's [h, w]. */
  layer: string;
  map: [number, number];
  unit: [number, number];
  centre: [number, number];
  theoretical: number;
  /** Side of the theoretical field clipped to the image (an even one widened to odd around `pixel`, as measured). */
  theoreticalInImage: number;
  /** The pixel the squares are centred on: `centre`, or above and left of it when that lies between pixels. */
  pixel: [number, number];
  /**
   * measureField's numbers, without the per-pixel share (data.json would hold megabytes of it);
   * areaFraction95 is (sideInImage95 / theoreticalInImage)^2, both sides clipped to the image.
   */
  effective: Omit<FieldMeasure, 'share'> & { sideInImage95: number };
}

export interface ModelStageFields {
  model: string;
  family: string;
  stages: StageField[];
}

export interface StageFields {
  backend: string;
  /** The measured images, [channels, side, side], resized from `source` [channels, h, w]. */
  input: [number, number, number];
  source: [number, number, number];
  images: number;
  seed: number;
  models: ModelStageFields[];
}

/** Where the head starts: global or adaptive pooling, flatten, a linear layer. */
const isHead = (r: LayerRow): boolean =>
  ['AdaptiveAvgPool2d', 'AdaptiveMaxPool2d', 'Flatten', 'Linear'].includes(r.type) || r.path.endsWith('avgpool');

/**
 * Rows that close a stage, in call order: among the body's calls (those before the head) with a
 * spatial output, per output resolution the largest field, then the shallowest, then the last.
 * A field may cover the whole image (`global`): its centre unit is still measured.
 */
export function stageRows(rows: readonly LayerRow[]): LayerRow[] {
  const head = rows.findIndex(isHead);
  const body = head < 0 ? rows : rows.slice(0, head);
  const best = new Map<string, LayerRow>();
  for (const r of body) {
    if (r.depth === 0 || r.outputShape?.length !== 4 || r.receptiveField === null) continue;
    const key = r.outputShape.slice(2).join('x');
    const b = best.get(key);
    const size = r.receptiveField.size[0];
    const bSize = b?.receptiveField?.size[0] ?? 0;
    if (!b || size > bSize || (size === bSize && r.depth <= b.depth)) best.set(key, r);
  }
  const area = (r: LayerRow) => (r.outputShape?.[2] ?? 0) * (r.outputShape?.[3] ?? 0);
  return [...best.values()].sort((a, b) => area(b) - area(a) || a.index - b.index);
}

/** The first `images` test images, normalised by their own channel statistics, resized to side x side. */
export function stageInputs(
  settings: ExperimentSettings,
  plan: StagePlan,
): { inputs: Float32Array; shape: number[]; source: [number, number, number] } {
  const test = loadSource(parseDataSource(settings.data), 'test', plan.images);
  const shape = asImageShape(test.sampleShape);
  const n = test.labels.length;
  const stats = channelStats(test);
  const prepare = compose([normalize(stats.mean, stats.std), resize(plan.side)]);
  return {
    inputs: prepare.apply(test.inputs, n, shape, new Generator(settings.seed)),
    shape: [n, shape[0], plan.side, plan.side],
    source: [...shape],
  };
}

/** The effective field at every stage of `entry`, built from `seed` on the current backend, in eval mode. */
export function measureStages(
  entry: ModelEntry,
  inputs: Float32Array,
  shape: readonly number[],
  seed: number,
): ModelStageFields {
  const [, c, h, w] = shape;
  const rows = stageRows(summarizeEntry(entry, { input: [c, h, w] }).rows);
  manualSeed(seed);
  const model = entry.build({ inChannels: c });
  model.eval();
  for (const p of model.parameters()) p.requiresGrad = false;
  // Direct convs, as in centreGradient: Winograd's transforms (which the native backend may pick
  // by measuring) leave rounding residues where the gradient is exactly 0, outside the field.
  const stages = withSetting('convAlgorithm', 'direct', () => stagesOf(entry.name, model, rows, inputs, shape));
  model.dispose();
  return { model: entry.name, family: entry.family, stages };
}

/** One forward pass keeping each stage's output, one backward pass per stage. */
function stagesOf(
  name: string,
  model: Module,
  rows: ReturnType<typeof stageRows>,
  inputs: Float32Array,
  shape: readonly number[],
): StageField[] {
  const [, , h, w] = shape;
  const wanted = new Set(rows.map((r) => r.index));
  const outputs = new Map<number, Tensor>();
  const open: number[] = [];
  let calls = 0;
  const x = fromArray(inputs, [...shape]).requireGrad();
  const out = traceModules(
    {
      enter: () => open.push(calls++),
      exit: (_m, output) => {
        const i = open.pop() ?? -1;
        if (wanted.has(i)) outputs.set(i, output as Tensor);
      },
    },
    () => model.call(x),
  );
  const stages = rows.map((r, s): StageField => {
    const y = outputs.get(r.index);
    const field = r.receptiveField;
    if (!y || !field || y.shape.join() !== [shape[0], ...(r.outputShape ?? []).slice(1)].join())
      throw new ShapeError(
        'receptive-field',
        `${name}: the output of ${r.path} has shape [${y?.shape.join(', ')}], its summary row says [${r.outputShape?.slice(1).join(', ')}] per image`,
      );
    const map: [number, number] = [y.shape[2], y.shape[3]];
    const unit: [number, number] = [Math.floor(map[0] / 2), Math.floor(map[1] / 2)];
    const centre: [number, number] = [
      field.start[0] + unit[0] * field.jump[0],
      field.start[1] + unit[1] * field.jump[1],
    ];
    const picked = sum(slice(slice(y, 2, unit[0], unit[0] + 1), 3, unit[1], unit[1] + 1));
    picked.backward(undefined, { retainGraph: true });
    // An even field (after 2x2 pooling) is centred between pixels: measure around the pixel above
    // and left of its centre, widened to the next odd side so that no pixel of it counts as outside.
    const size = field.size[0];
    const odd = size + (1 - (size % 2));
    const pixel: [number, number] = [Math.floor(centre[0]), Math.floor(centre[1])];
    const inImage = sideInImage(pixel, odd, [h, w]);
    const { share: _, ...measured } = measureField(inputHeat(x, shape), [h, w], pixel, odd);
    // The squares are not clipped to the image (a unit off the centre reaches past one edge): clip the side as the field's.
    const sideInImage95 = sideInImage(pixel, measured.side95Interpolated, [h, w]);
    const effective = { ...measured, sideInImage95, areaFraction95: (sideInImage95 / inImage) ** 2 };
    x.grad?.dispose();
    x.grad = null;
    picked.dispose();
    return {
      stage: s + 1,
      layer: r.path,
      map,
      unit,
      centre,
      pixel,
      theoretical: field.size[0],
      theoreticalInImage: inImage,
      effective,
    };
  });
  for (const t of outputs.values()) t.dispose();
  out.dispose();
  x.dispose();
  return stages;
}

/** Every model of the plan, each from the same seed, on the same resized test images. */
export function stageFields(settings: ExperimentSettings, plan: StagePlan = stagePlan(settings)): StageFields {
  const { inputs, shape, source } = stageInputs(settings, plan);
  const models = plan.models.map((name) => {
    const m = measureStages(getModel(name), inputs, shape, settings.seed);
    settings.log?.(
      `receptive-field: ${name} stages: effective 95% ${m.stages.map((s) => s.effective.side95).join(', ')} px of theoretical ${m.stages.map((s) => s.theoretical).join(', ')} px`,
    );
    return m;
  });
  return {
    backend: getBackend().name,
    input: [shape[1], shape[2], shape[3]],
    source,
    images: shape[0],
    seed: settings.seed,
    models,
  };
}

const fractions = (m: ModelStageFields): number[] => m.stages.map((s) => s.effective.areaFraction95);

/** The claim, decided on the numbers: every stage below half the theoretical area, and the share falling from first to last stage. */
export function stageClaim(f: StageFields): ClaimResult {
  const all = f.models.flatMap(fractions);
  const small = all.filter((v) => v < 0.5).length;
  const falls = f.models.filter((m) => {
    const v = fractions(m);
    return v.every((x, i) => i === 0 || x <= v[i - 1]);
  });
  const lastBelowFirst = f.models.filter((m) => {
    const v = fractions(m);
    return v.length > 1 && (v.at(-1) ?? 0) < v[0];
  });
  return {
    id: 'effective-by-stage',
    claim:
      'At every stage of the classic networks the effective field is a small fraction of the theoretical one, and the fraction falls with depth (Luo et al. 2016); here: below half the theoretical area at every stage, and never growing from one stage to the next.',
    measured: `${f.models.length} model(s) as initialised (seed ${f.seed}), ${f.images} test images resized to ${f.input[1]}x${f.input[2]}: the 95% square covers ${f.models.map((m) => `${m.model} ${fractions(m).map(pct).join(', ')}`).join('; ')} of the theoretical area (both clipped to the image), stage by stage. ${small} of ${all.length} stages are below half; the share never grows along the stages in ${falls.length} of ${f.models.length} model(s), and ends below where it starts in ${lastBelowFirst.length}.`,
    held: small === all.length && falls.length === f.models.length,
  };
}

/** One table row per stage of every model. */
export function stageSection(f: StageFields): { heading: string; body: string } {
  const rows = f.models.flatMap((m) =>
    m.stages.map((s) => [
      m.model,
      s.stage,
      s.layer,
      s.map.join('x'),
      s.theoretical,
      s.theoreticalInImage,
      s.effective.side95,
      s.effective.sideInImage95.toFixed(2),
      pct(s.effective.areaFraction95),
      s.effective.rmsRadius.toFixed(2),
      `${s.effective.outsideNonzero} of ${s.effective.outsidePixels}`,
    ]),
  );
  const [c, h, w] = f.source;
  return {
    heading: 'Effective field at every stage of the zoo models, as initialised',
    body: `${table(
      [
        'model',
        'stage',
        'output of',
        'map',
        'theoretical (px)',
        'in the image',
        '95% square (px)',
        'in the image (interpolated)',
        'of the theoretical area',
        'RMS radius (px)',
        'outside pixels not 0',
      ],
      rows,
    )}\n\nEach model built from seed ${f.seed} (its own initialisation, no trained weights: ImageNet weights cannot be downloaded here), in eval mode, on the ${f.backend} backend, with ${c} input channel(s). Inputs: the first ${f.images} ${c}x${h}x${w} test images, normalised by their own mean and std, resized bilinearly to ${f.input[1]}x${f.input[2]}. A stage is one output resolution; its output is the call at that resolution with the largest theoretical field (the shallowest such module). The unit is the centre of that map (row and column floor(side / 2)), summed over its channels; |d unit / d input| is summed over the input channels and averaged over the images. Squares are centred on the unit's field centre (the pixel above and left of it for an even field) and clipped to the image, as is the theoretical field, before the area share is taken. The effective field of the trained net is the plain stack's above: only that net is trained here.`,
  };
}

/** Effective against theoretical side per stage, one line per model, log-log, with the diagonal where they would be equal and the image side. */
export function stageChart(f: StageFields): ChartSpec {
  const points: LinePoint[] = f.models.flatMap((m) =>
    m.stages.map((s) => ({ series: m.model, x: s.theoretical, y: s.effective.sideInImage95 })),
  );
  const xs = points.map((p) => p.x);
  const diagonal = 'effective = theoretical';
  const edge = `image side (${f.input[1]} px): the most either can cover`;
  const lo = Math.min(...xs);
  const hi = Math.min(Math.max(...xs), f.input[1]);
  return {
    file: 'effective-field-stages.svg',
    caption: `Effective field (side of the square holding 95% of |d centre unit / d input|, clipped to the ${f.input[1]} px image) against the theoretical field at each stage, models as initialised`,
    spec: linesSpec(
      'Effective against theoretical field, stage by stage',
      [
        ...points,
        { series: diagonal, x: lo, y: lo },
        { series: diagonal, x: hi, y: hi },
        { series: edge, x: lo, y: f.input[1] },
        { series: edge, x: Math.max(...xs), y: f.input[1] },
      ],
      {
        x: 'theoretical field (px, log scale)',
        y: 'effective field: 95% square (px, log scale)',
        xLog: true,
        yLog: true,
        legend: 'model',
      },
      `${f.images} test images resized to ${f.input[1]}x${f.input[2]}, seed ${f.seed}, ${f.backend} backend; one point per stage, first stage left`,
    ),
  };
}
