/**
 * `efficiency`: every zoo model with a published ImageNet top-1 accuracy, its parameters and
 * multiply-adds (computed from the built model on the meta backend) against that accuracy, and the
 * lecture's story "accuracy went up while parameters went down" tested on the chronological order
 * AlexNet (2012) -> VGG (2014) -> GoogLeNet (2014) -> ResNet (2015) -> DenseNet (2016).
 */
import { summarizeEntry } from '../analysis/zoo.js';
import { MODELS, type Family, type ModelEntry } from '../models/registry.js';
import type { Spec } from 'vega';
import { scatterSpec } from './charts.js';
import { giga, millions, table } from './format.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

/** The families in the order they were published, with the year of the paper. */
export const CHRONOLOGY: readonly { family: Family; year: number; flagship: string }[] = [
  { family: 'alexnet', year: 2012, flagship: 'alexnet' },
  { family: 'vgg', year: 2014, flagship: 'vgg16' },
  { family: 'googlenet', year: 2014, flagship: 'googlenet' },
  { family: 'resnet', year: 2015, flagship: 'resnet50' },
  { family: 'densenet', year: 2016, flagship: 'densenet121' },
];

export interface ModelPoint {
  model: string;
  family: Family;
  year: number;
  params: number;
  macs: number;
  top1: number;
}

export interface ChainStep {
  from: string;
  to: string;
  accuracyUp: boolean;
  paramsDown: boolean;
}

/** Each consecutive pair of a chain: did accuracy go up and parameters go down? */
export function chainSteps(points: readonly ModelPoint[]): ChainStep[] {
  return points.slice(1).map((p, i) => ({
    from: points[i].model,
    to: p.model,
    accuracyUp: p.top1 > points[i].top1,
    paramsDown: p.params < points[i].params,
  }));
}

/** Every model with a published top-1; `totalsOf` computes its counts (the web explorer passes a cached one). */
export function modelPoints(
  totalsOf: (m: ModelEntry) => { params: number; macs: number } = (m) => summarizeEntry(m).totals,
): ModelPoint[] {
  const year = new Map(CHRONOLOGY.map((c) => [c.family, c.year]));
  return MODELS.filter((m) => m.published.top1 !== undefined).map((m) => {
    const t = totalsOf(m);
    return {
      model: m.name,
      family: m.family,
      year: year.get(m.family) ?? 0,
      params: t.params,
      macs: t.macs,
      top1: m.published.top1 as number,
    };
  });
}

/** The efficiency chart: top-1 against GMACs (log), area = parameters, colour = family (also drawn by the web explorer). */
export function efficiencySpec(points: readonly ModelPoint[]): Spec {
  return scatterSpec(
    'ImageNet top-1 against multiply-adds',
    points.map((p) => ({
      label: p.model,
      x: p.macs / 1e9,
      y: p.top1,
      size: p.params,
      color: `${p.family} (${p.year})`,
    })),
    {
      x: 'GMACs at 224x224 (log scale)',
      y: 'top-1 accuracy (%)',
      size: 'parameters',
      color: 'family',
      xLog: true,
    },
    'area = parameters; torchvision weights',
  );
}

const stepWords = (s: ChainStep): string =>
  `${s.from} -> ${s.to}: accuracy ${s.accuracyUp ? 'up' : 'down'}, parameters ${s.paramsDown ? 'down' : 'up'}`;

export async function runEfficiency(settings: ExperimentSettings): Promise<ExperimentResult> {
  const points = modelPoints();
  const by = new Map(points.map((p) => [p.model, p]));
  const flagships = CHRONOLOGY.map((c) => by.get(c.flagship) as ModelPoint);
  // The most accurate model of each family (what the family achieved), in the same order.
  const best = CHRONOLOGY.map((c) =>
    points.filter((p) => p.family === c.family).reduce((a, b) => (b.top1 > a.top1 ? b : a)),
  );
  const flagSteps = chainSteps(flagships);
  const bestSteps = chainSteps(best);
  const bothHold = (steps: readonly ChainStep[]): boolean => steps.every((s) => s.accuracyUp && s.paramsDown);
  const failing = (steps: readonly ChainStep[]): string =>
    steps
      .filter((s) => !(s.accuracyUp && s.paramsDown))
      .map(stepWords)
      .join('; ');
  // The weaker reading: after VGG, every family is more accurate than AlexNet with fewer parameters than VGG.
  const alex = by.get('alexnet') as ModelPoint;
  const vggMin = Math.min(...points.filter((p) => p.family === 'vgg').map((p) => p.params));
  const later = points.filter((p) => p.year >= 2014 && p.family !== 'vgg');
  const weakHeld = later.every((p) => p.top1 > alex.top1 && p.params < vggMin);
  // Accuracy per million parameters, by family (best model).
  const perParam = best.map((p) => ({ model: p.model, top1PerMParams: p.top1 / (p.params / 1e6) }));

  const claims: ClaimResult[] = [
    {
      id: 'flagships',
      claim:
        "From AlexNet (2012) to VGG, GoogLeNet, ResNet and DenseNet (2016), accuracy went up while the number of parameters went down (each family's usual representative: alexnet, vgg16, googlenet, resnet50, densenet121).",
      measured: bothHold(flagSteps)
        ? `Every step had higher top-1 and fewer parameters: ${flagSteps.map(stepWords).join('; ')}.`
        : `Not at every step: ${failing(flagSteps)}. Parameters: ${flagships.map((p) => `${p.model} ${millions(p.params)}`).join(', ')}; top-1: ${flagships.map((p) => `${p.top1}%`).join(', ')}.`,
      held: bothHold(flagSteps),
    },
    {
      id: 'best-of-family',
      claim: 'The same story told with the most accurate model of each family.',
      measured: bothHold(bestSteps)
        ? `Every step had higher top-1 and fewer parameters: ${bestSteps.map(stepWords).join('; ')}.`
        : `Not at every step: ${failing(bestSteps)}.`,
      held: bothHold(bestSteps),
    },
    {
      id: 'after-vgg',
      claim:
        'A weaker reading: every later network (GoogLeNet, ResNet, DenseNet) is more accurate than AlexNet with fewer parameters than the smallest VGG.',
      measured: `${later.filter((p) => p.top1 > alex.top1 && p.params < vggMin).length} of ${later.length} later models are more accurate than AlexNet (${alex.top1}%) with fewer parameters than VGG's smallest (${millions(vggMin)}); the largest, ${later.reduce((a, b) => (b.params > a.params ? b : a)).model}, has ${millions(Math.max(...later.map((p) => p.params)))}.`,
      held: weakHeld,
    },
  ];
  settings.log?.(`efficiency: ${points.length} models with published top-1`);
  const rows = [...points].sort((a, b) => a.year - b.year || a.params - b.params);
  return {
    name: 'efficiency',
    title: 'Accuracy against parameters and multiply-adds across the zoo',
    mode: settings.mode,
    claims,
    sections: [
      {
        heading: 'Every model with a published ImageNet top-1',
        body: `${table(
          ['model', 'family (year)', 'parameters', 'GMACs', 'top-1 %'],
          rows.map((p) => [p.model, `${p.family} (${p.year})`, millions(p.params), giga(p.macs), p.top1.toFixed(3)]),
        )}\n\nParameters and multiply-adds are computed from the built models at 224x224; top-1 is torchvision's published accuracy of its weights (the registry's \`published.top1\`).`,
      },
      {
        heading: 'The chronological chains',
        body: `${table(
          ['step', 'accuracy', 'parameters'],
          flagSteps.map((s) => [`${s.from} -> ${s.to}`, s.accuracyUp ? 'up' : 'down', s.paramsDown ? 'down' : 'up']),
        )}\n\nMost accurate of each family: ${best.map((p) => `${p.model} (${p.top1}%, ${millions(p.params)})`).join(' -> ')}.\n\n${table(
          ['best of family', 'top-1 % per million parameters'],
          perParam.map((p) => [p.model, p.top1PerMParams.toFixed(2)]),
        )}`,
      },
    ],
    charts: [
      {
        file: 'efficiency.svg',
        caption: 'Top-1 accuracy against GMACs; area = parameters, colour = family',
        spec: efficiencySpec(points),
      },
    ],
    data: {
      models: points,
      chronology: CHRONOLOGY,
      flagshipSteps: flagSteps,
      bestOfFamily: best,
      bestSteps,
      perParam,
      vggSmallestParams: vggMin,
    },
    notRun: [],
  };
}

export const EFFICIENCY: Experiment = {
  name: 'efficiency',
  title: 'Accuracy against parameters and multiply-adds across the zoo',
  summary: "every zoo model's parameters and MACs against published top-1; does accuracy rise as parameters fall?",
  lesson:
    "From AlexNet to DenseNet accuracy went up while parameters went down, or did it? Every zoo model's size against its published top-1.",
  trains: false,
  tiny: {},
  run: runEfficiency,
};
