/**
 * `degradation` (He et al. 2015, Fig. 1 and 6): deeper plain networks train worse than shallower
 * ones, and shortcuts remove the effect. Plain-20, plain-56, ResNet-20 and ResNet-56 trained on a
 * subset of Fashion-MNIST (or --data): 4,000 images for 3 epochs in --quick (about 3 minutes on 2
 * cores with the native backend), 10,000 for 5 in --full. Same seed, data order and optimiser for
 * every net; training loss and accuracy per epoch, test accuracy at the end.
 */
import { getBackend } from '../backend/registry.js';
import { getModel } from '../models/registry.js';
import { linesSpec, type LinePoint } from './charts.js';
import { int, table } from './format.js';
import { trainNets } from './train-nets.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

export interface TrainedNet {
  model: string;
  /** Training loss and accuracy of each epoch (running, train mode). */
  epochs: { epoch: number; trainLoss: number; trainAccuracy: number }[];
  testAccuracy: number;
  seconds: number;
}

export async function runDegradation(settings: ExperimentSettings): Promise<ExperimentResult> {
  const quick = settings.mode === 'quick';
  const depths = [20, 56];
  const trainLimit = settings.trainLimit ?? (quick ? 4000 : 10000);
  const testLimit = settings.testLimit ?? (quick ? 2000 : 10000);
  const epochs = settings.epochs ?? (quick ? 3 : 5);
  const lr = 2e-3;
  const batchSize = 64;
  const models = depths.flatMap((d) => [`plain${d}_cifar`, `resnet${d}_cifar`]);
  const trained = await trainNets(
    settings,
    { trainLimit, testLimit, epochs, lr, batchSize },
    models.map((model) => ({
      name: model,
      build: (inChannels: number, classes: number) => getModel(model).build({ inChannels, classes }),
    })),
    'degradation',
  );
  const nets: TrainedNet[] = trained.map((t) => ({
    model: t.name,
    epochs: t.epochs,
    testAccuracy: t.testAccuracy,
    seconds: t.seconds,
  }));
  const by = new Map(nets.map((n) => [n.model, n]));
  const lastLoss = (m: string): number => {
    const n = by.get(m) as TrainedNet;
    return n.epochs[n.epochs.length - 1].trainLoss;
  };
  const claims: ClaimResult[] = depths.map((d) => ({
    id: `shortcuts-${d}`,
    claim: `With shortcuts the same ${d}-layer network trains better: ResNet-${d} reaches a lower training loss than its plain twin.`,
    measured: `After ${epochs} epoch(s) on ${int(trainLimit)} images: resnet${d} training loss ${lastLoss(`resnet${d}_cifar`).toFixed(4)}, plain${d} ${lastLoss(`plain${d}_cifar`).toFixed(4)}.`,
    held: lastLoss(`resnet${d}_cifar`) < lastLoss(`plain${d}_cifar`),
  }));
  if (depths.includes(56))
    claims.push({
      id: 'deeper-plain-worse',
      claim:
        'Degradation: the deeper plain network (56 layers) trains worse than the shallower one (20), although it could copy it and add identities.',
      measured: `Final training loss: plain56 ${lastLoss('plain56_cifar').toFixed(4)}, plain20 ${lastLoss('plain20_cifar').toFixed(4)}.`,
      held: lastLoss('plain56_cifar') > lastLoss('plain20_cifar'),
    });
  const points: LinePoint[] = nets.flatMap((n) =>
    n.epochs.map((e) => ({ series: n.model, x: e.epoch, y: e.trainLoss })),
  );
  return {
    name: 'degradation',
    title: 'Degradation: plain nets against ResNets of the same depth',
    mode: settings.mode,
    claims,
    sections: [
      {
        heading: 'Training',
        body: `${table(
          ['model', 'training loss per epoch', 'last training accuracy', 'test accuracy', 'seconds'],
          nets.map((n) => [
            n.model,
            n.epochs.map((e) => e.trainLoss.toFixed(4)).join(', '),
            `${(100 * n.epochs[n.epochs.length - 1].trainAccuracy).toFixed(2)}%`,
            `${(100 * n.testAccuracy).toFixed(2)}%`,
            n.seconds.toFixed(1),
          ]),
        )}\n\n${int(trainLimit)} ${settings.data} training images, ${int(testLimit)} test images, ${epochs} epoch(s), Adam lr ${lr}, batch ${batchSize}, no augmentation; every net from seed ${settings.seed} with the same batch order, on the ${getBackend().name} backend. He et al. trained for 64,000 steps on CIFAR-10: a few epochs on a subset show the start of the curves only.`,
      },
    ],
    charts: [
      {
        file: 'training-loss.svg',
        caption: 'Training loss per epoch',
        spec: linesSpec('Training loss: plain against residual', points, {
          x: 'epoch',
          y: 'training loss (cross-entropy)',
          legend: 'model',
          xInteger: true,
        }),
      },
    ],
    data: { trainLimit, testLimit, epochs, lr, batchSize, nets },
    notRun: [],
  };
}

export const DEGRADATION: Experiment = {
  name: 'degradation',
  title: 'Degradation: plain nets against ResNets of the same depth',
  summary: 'plain-20 and plain-56 against ResNet-20 and ResNet-56, trained briefly on Fashion-MNIST',
  lesson:
    'Degradation (He et al. 2015): the deeper plain net trains worse than the shallower one; with shortcuts depth helps.',
  trains: true,
  tiny: { trainLimit: 64, testLimit: 64, epochs: 1 },
  run: runDegradation,
};
