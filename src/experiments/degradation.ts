/**
 * `degradation` (He et al. 2015, Fig. 1 and 6): deeper plain networks have higher training error
 * than shallower ones, and shortcuts remove the effect. Plain nets and ResNets of the same depths
 * trained the same way on Fashion-MNIST (or --data), tested after every epoch; the chart has the
 * form of the paper's figure 6 (training error thin and dashed, test error bold, one colour per
 * depth, plain nets and ResNets in two panels).
 *
 * --quick: depths 20 and 56, 4,000 training and 2,000 test images, 3 epochs of Adam (lr 0.002,
 * batch 64, no augmentation): about 2-3 minutes on 2 cores with the native backend, and it prints
 * what --full would take from the step times it measured. --full: the paper's schedule
 * (FULL_SCHEDULE) for depths 20, 32, 44 and 56.
 */
import { getBackend } from '../backend/registry.js';
import { getModel } from '../models/registry.js';
import { type CurvePoint, trainTestCurvesSpec } from './charts-panels.js';
import { int, table } from './format.js';
import { type EpochRecord, type TrainedNet, type TrainPlan, trainNets } from './train-nets.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

export interface DegradationPlan extends TrainPlan {
  depths: readonly number[];
}

/**
 * He et al. 2015, section 4.2: SGD with momentum 0.9 and weight decay 1e-4, batch 128, lr 0.1
 * divided by 10 at 32k and 48k iterations, stopped at 64k; 4 pixels of zero padding, a random crop
 * and a horizontal flip; 5k training images held out for validation. (Their MSRA initialisation is
 * the models' own: Kaiming normal, fan out.)
 */
export const FULL_SCHEDULE = {
  depths: [20, 32, 44, 56],
  batchSize: 128,
  lr: 0.1,
  optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
  lrMilestones: [32_000, 48_000],
  lrFactor: 0.1,
  iterations: 64_000,
  augment: { padding: 4, flip: true },
  validation: 5_000,
} as const satisfies Partial<DegradationPlan>;

/** The quick settings (chosen so the claims show after 3 epochs) or the paper's; --limit, --test-limit, --epochs override. */
export function degradationPlan(settings: ExperimentSettings): DegradationPlan {
  if (settings.mode === 'quick')
    return {
      depths: [20, 56],
      trainLimit: settings.trainLimit ?? 4000,
      testLimit: settings.testLimit ?? 2000,
      epochs: settings.epochs ?? 3,
      batchSize: 64,
      lr: 2e-3,
      testEveryEpoch: true,
    };
  return {
    ...FULL_SCHEDULE,
    trainLimit: settings.trainLimit ?? Number.POSITIVE_INFINITY,
    testLimit: settings.testLimit ?? Number.POSITIVE_INFINITY,
    epochs: settings.epochs ?? Number.POSITIVE_INFINITY,
    testEveryEpoch: true,
  };
}

const modelName = (residual: boolean, depth: number): string => `${residual ? 'resnet' : 'plain'}${depth}_cifar`;

/** One net's curves in percent, as data.json holds them. */
export interface DegradationNet {
  model: string;
  depth: number;
  residual: boolean;
  images: TrainedNet['images'];
  epochs: {
    epoch: number;
    iterations: number;
    lr: number;
    trainLoss: number;
    trainErrorPct: number;
    testLoss: number;
    testErrorPct: number;
    validationLoss?: number;
    validationErrorPct?: number;
  }[];
  seconds: number;
  evalSeconds: number;
  /** Median seconds of one training step (of the plan's batch). */
  stepSeconds: number;
  batchSize: number;
}

const errorPct = (accuracy: number): number => 100 * (1 - accuracy);

function curves(e: EpochRecord): DegradationNet['epochs'][number] {
  const test = e.test ?? { loss: Number.NaN, accuracy: Number.NaN };
  return {
    epoch: e.epoch,
    iterations: e.iterations,
    lr: e.lr,
    trainLoss: e.trainLoss,
    trainErrorPct: errorPct(e.trainAccuracy),
    testLoss: test.loss,
    testErrorPct: errorPct(test.accuracy),
    ...(e.validation ? { validationLoss: e.validation.loss, validationErrorPct: errorPct(e.validation.accuracy) } : {}),
  };
}

/**
 * What --full would take: every net's time per training image (its median step time over the batch
 * size) and per evaluated image, linear in depth between the measured depths.
 */
export interface FullEstimate {
  hours: number;
  /** Seconds per training step of batch 128, by model, measured (20, 56) or interpolated. */
  stepSeconds: Record<string, number>;
  epochs: number;
}

/** The standard error (in points) of the difference of two error rates (in %), each over `n` images. */
export function errorDifferenceSe(aPct: number, bPct: number, n: number): number {
  const [a, b] = [aPct / 100, bPct / 100];
  return 100 * Math.sqrt((a * (1 - a) + b * (1 - b)) / n);
}

/** null when the training split is too small to hold out the schedule's validation images. */
export function estimateFull(nets: readonly DegradationNet[]): FullEstimate | null {
  const f = FULL_SCHEDULE;
  const { trainSplit, testSplit } = nets[0].images;
  if (trainSplit <= f.validation) return null;
  const perEpoch = Math.ceil((trainSplit - f.validation) / f.batchSize);
  const epochs = Math.ceil(f.iterations / perEpoch);
  const evalImages = epochs * (testSplit + f.validation);
  const stepSeconds: Record<string, number> = {};
  let seconds = 0;
  for (const residual of [false, true]) {
    const measured = nets.filter((n) => n.residual === residual);
    const rate = (n: DegradationNet) => ({
      train: n.stepSeconds / n.batchSize,
      evaluate: n.evalSeconds / (n.epochs.length * (n.images.test + n.images.validation)),
    });
    const [a, b] = [measured[0], measured[measured.length - 1]];
    const [ra, rb] = [rate(a), rate(b)];
    for (const depth of f.depths) {
      const t = a.depth === b.depth ? 0 : (depth - a.depth) / (b.depth - a.depth);
      const train = ra.train + t * (rb.train - ra.train);
      const evaluate = ra.evaluate + t * (rb.evaluate - ra.evaluate);
      stepSeconds[modelName(residual, depth)] = train * f.batchSize;
      seconds += f.iterations * f.batchSize * train + evalImages * evaluate;
    }
  }
  return { hours: seconds / 3600, stepSeconds, epochs };
}

const fmt = (x: number): string => `${x.toFixed(2)}%`;
const compare = (a: number, b: number): string => (a > b ? 'higher than' : a < b ? 'lower than' : 'equal to');

export async function runDegradation(settings: ExperimentSettings): Promise<ExperimentResult> {
  const plan = degradationPlan(settings);
  const order = plan.depths.flatMap((depth) => [false, true].map((residual) => ({ depth, residual })));
  const trained = await trainNets(
    settings,
    plan,
    order.map(({ depth, residual }) => ({
      name: modelName(residual, depth),
      build: (inChannels: number, classes: number) =>
        getModel(modelName(residual, depth)).build({ inChannels, classes }),
    })),
    'degradation',
  );
  const nets: DegradationNet[] = trained.map((t, i) => ({
    model: t.name,
    ...order[i],
    images: t.images,
    epochs: t.epochs.map(curves),
    seconds: t.seconds,
    evalSeconds: t.evalSeconds,
    stepSeconds: t.stepSeconds,
    batchSize: plan.batchSize,
  }));
  const by = new Map(nets.map((n) => [n.model, n]));
  const last = (residual: boolean, depth: number) => {
    const n = by.get(modelName(residual, depth)) as DegradationNet;
    return n.epochs[n.epochs.length - 1];
  };
  const [shallow, deep] = [plan.depths[0], plan.depths[plan.depths.length - 1]];
  const after = `after ${nets[0].epochs.length} epoch(s), ${int(nets[0].epochs[nets[0].epochs.length - 1].iterations)} iterations, on ${int(nets[0].images.train)} images`;
  const pair = (what: string, a: ReturnType<typeof last>, aName: string, b: ReturnType<typeof last>, bName: string) =>
    `${what}: ${aName} training error ${fmt(a.trainErrorPct)}, ${compare(a.trainErrorPct, b.trainErrorPct)} ${bName}'s ${fmt(b.trainErrorPct)}; test error ${fmt(a.testErrorPct)}, ${compare(a.testErrorPct, b.testErrorPct)} ${bName}'s ${fmt(b.testErrorPct)}.`;
  // "Not worse" is a claim of no difference: in the quick run the two ResNets' training errors
  // came out 0.04 and 0.4 points apart in two runs, either way, where one standard error of the
  // difference (each a rate over the training images) is about 0.8 points.
  const resnetNoise = errorDifferenceSe(
    last(true, deep).trainErrorPct,
    last(true, shallow).trainErrorPct,
    nets[0].images.train,
  );
  const claims: ClaimResult[] = [
    {
      id: 'deeper-plain-worse',
      claim: `Degradation: the deeper plain network (${deep} layers) has higher training error than the shallower one (${shallow}), although it could copy it and add identities.`,
      measured: pair(
        `Last epoch ${after}`,
        last(false, deep),
        `plain-${deep}`,
        last(false, shallow),
        `plain-${shallow}`,
      ),
      held: last(false, deep).trainErrorPct > last(false, shallow).trainErrorPct,
    },
    {
      id: 'deeper-resnet-not-worse',
      claim: `With shortcuts depth does not hurt: ResNet-${deep}'s training error is no higher than ResNet-${shallow}'s, beyond two standard errors.`,
      measured: `${pair('Last epoch', last(true, deep), `ResNet-${deep}`, last(true, shallow), `ResNet-${shallow}`)} Two standard errors of the difference: ${fmt(2 * resnetNoise)}.`,
      held: last(true, deep).trainErrorPct <= last(true, shallow).trainErrorPct + 2 * resnetNoise,
    },
    ...plan.depths.map((d) => ({
      id: `shortcuts-${d}`,
      claim: `At ${d} layers the ResNet has lower training error than the plain net of the same layers.`,
      measured: pair('Last epoch', last(true, d), `ResNet-${d}`, last(false, d), `plain-${d}`),
      held: last(true, d).trainErrorPct < last(false, d).trainErrorPct,
    })),
  ];
  const points: CurvePoint[] = nets.flatMap((n) =>
    n.epochs.flatMap((e) =>
      (['training', 'test'] as const).map((split) => ({
        panel: n.residual ? 'ResNet' : 'plain',
        series: `${n.depth}-layer`,
        split,
        x: e.iterations,
        y: split === 'training' ? e.trainErrorPct : e.testErrorPct,
      })),
    ),
  );
  const estimate = settings.mode === 'quick' ? estimateFull(nets) : null;
  if (estimate)
    settings.log?.(
      `degradation: --full would take about ${estimate.hours.toFixed(1)} hours here (${estimate.epochs} epochs of 8 nets, by this run's step times)`,
    );
  const optimizer =
    plan.optimizer?.name === 'sgd'
      ? `SGD lr ${plan.lr} (momentum ${plan.optimizer.momentum}, weight decay ${plan.optimizer.weightDecay}), divided by 10 after ${plan.lrMilestones?.map(int).join(' and ')} iterations, ${int(plan.iterations ?? 0)} iterations in all`
      : `Adam lr ${plan.lr}`;
  const augmentation = plan.augment
    ? `${plan.augment.padding}-pixel zero padding, a random crop and a horizontal flip`
    : 'no augmentation';
  const images = nets[0].images;
  const notes = `${int(images.train)} ${settings.data} training images${images.validation > 0 ? ` (${int(images.validation)} more, the last of those taken, held out for validation)` : ''}, ${int(images.test)} test images; ${optimizer}, batch ${plan.batchSize}, ${augmentation}; every net from seed ${settings.seed} with the same batch order, on the ${getBackend().name} backend. Training error is the running error over each epoch in training mode (augmented images, batch statistics); test error is measured after each epoch in evaluation mode.`;
  // The table keeps to about 10 epochs of a long run (every k-th and the last); data.json has them all.
  const every = Math.ceil(nets[0].epochs.length / 10);
  const shown = <T extends { epoch: number }>(epochs: readonly T[]): T[] =>
    epochs.filter((e, i) => e.epoch % every === 0 || i === epochs.length - 1);
  const shownWord = every === 1 ? 'per epoch' : `every ${every} epochs and at the end`;
  const sections = [
    {
      heading: 'Error per epoch',
      body: `${table(
        ['model', `training error ${shownWord} (%)`, `test error ${shownWord} (%)`, 'last training loss', 'seconds'],
        nets.map((n) => [
          n.model,
          shown(n.epochs)
            .map((e) => e.trainErrorPct.toFixed(2))
            .join(', '),
          shown(n.epochs)
            .map((e) => e.testErrorPct.toFixed(2))
            .join(', '),
          n.epochs[n.epochs.length - 1].trainLoss.toFixed(4),
          (n.seconds + n.evalSeconds).toFixed(1),
        ]),
      )}\n\n${notes}`,
    },
  ];
  if (estimate)
    sections.push({
      heading: 'What --full would take',
      body: `The paper's schedule on this data: ${int(FULL_SCHEDULE.iterations)} steps of batch ${FULL_SCHEDULE.batchSize} (${estimate.epochs} epochs) for each of 8 nets (plain and ResNet at depths ${FULL_SCHEDULE.depths.join(', ')}), with the test and validation images evaluated after every epoch: about **${estimate.hours.toFixed(1)} hours** on this machine, from this run's median step time per training image (measured at batch ${plan.batchSize}; depths 32 and 44 interpolated; wall time, so a loaded machine inflates it). Seconds per step of 128: ${Object.entries(
        estimate.stepSeconds,
      )
        .map(([m, s]) => `${m} ${s.toFixed(2)}`)
        .join(', ')}.`,
    });
  return {
    name: 'degradation',
    title: 'Degradation: plain nets against ResNets of the same depth',
    mode: settings.mode,
    claims,
    sections,
    charts: [
      {
        file: 'error.svg',
        caption:
          'Training error (thin, dashed) and test error (bold) against iterations, plain nets left and ResNets right (the form of He et al. 2015, Fig. 6)',
        spec: trainTestCurvesSpec(
          'Degradation: training and test error',
          points,
          { x: 'iterations', y: 'error (%)', legend: 'depth' },
          `${settings.data}, ${int(images.train)} training images`,
        ),
      },
    ],
    data: {
      // Resolved sizes: the plan's Infinity ('all') would be null in JSON.
      plan: {
        ...plan,
        trainLimit: images.train + images.validation,
        testLimit: images.test,
        epochs: nets[0].epochs.length,
      },
      nets,
      ...(estimate ? { fullEstimate: estimate } : {}),
    },
    notRun:
      settings.mode === 'quick'
        ? [
            `The paper's schedule and depths 32 and 44 (--full${estimate ? `; about ${estimate.hours.toFixed(1)} hours on this machine by this run's step times` : ''}).`,
          ]
        : [],
  };
}

export const DEGRADATION: Experiment = {
  name: 'degradation',
  title: 'Degradation: plain nets against ResNets of the same depth',
  summary:
    'plain nets against ResNets of 20 and 56 layers (--full: 20 to 56 on the paper schedule), training and test error per epoch',
  lesson:
    'Degradation (He et al. 2015): the deeper plain net has higher training error than the shallower one; with shortcuts depth helps.',
  trains: true,
  tiny: { trainLimit: 64, testLimit: 64, epochs: 1 },
  run: runDegradation,
};
