/**
 * convkit's reference backend in the browser: a `convkit train` run's model built on `ref` with
 * the weights of its checkpoint (parsed by src/io's safetensors reader), its class probabilities
 * as `convkit predict` computes them, and one traced pass that keeps every op's output (and the
 * inputs of convolutions, activations and pooling, for the unit view in engine-unit.ts). The page
 * runs it in a Web Worker (engine-worker.ts, engine-client.ts); tests run it in Node.
 *
 * Everything runs inside `withBackend('ref')`, whatever the default backend is.
 */
import { withBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { type OpEvent, traceOps } from '../../src/core/trace.js';
import type { ImageShape } from '../../src/data/transforms.js';
import { buildTrainModel, type TrainConfig, trainTransforms } from '../../src/cli/train-config.js';
import { RUN_FILES } from '../../src/cli/run-files.js';
import { loadCheckpoint } from '../../src/train/checkpoint-read.js';
import type { TensorModule } from '../../src/nn/module.js';
import { traceModules } from '../../src/nn/trace-modules.js';
import { fromArray } from '../../src/ops/creation.js';
import { classProbabilities } from '../../src/train/evaluate.js';

/** The fields of a run's config.json the page needs. */
export type RunConfig = Pick<TrainConfig, 'model' | 'data' | 'input' | 'classes' | 'normalize' | 'augment' | 'images'>;

export interface LoadedRun {
  name: string;
  config: RunConfig;
  model: TensorModule;
}

/**
 * The run's model on the ref backend, as `convkit train` built it (buildTrainModel), with no
 * random init since the checkpoint's weights replace it.
 */
export function buildRunModel(
  config: RunConfig,
  checkpoint: Uint8Array,
  file: string = RUN_FILES.checkpoint,
): TensorModule {
  return withBackend('ref', () => {
    const model = buildTrainModel(config, { backend: 'ref', init: 'none' });
    const ckpt = loadCheckpoint(checkpoint, file);
    try {
      model.loadStateDict(ckpt.model);
    } finally {
      ckpt.dispose();
    }
    model.eval();
    return model;
  });
}

/**
 * Pixels in [0, 1] (CHW, the data's shape) through the run's test transforms (a resize and centre
 * crop where the run trained with them, then its normalisation), as `convkit predict` does.
 */
export function networkInput(config: RunConfig, pixels: Float32Array): { input: Float32Array; shape: ImageShape } {
  const transform = trainTransforms(config).test;
  return { input: transform.apply(pixels, 1, config.input, new Generator(0)), shape: transform.outShape(config.input) };
}

/** Class probabilities of one image: the fused inference pass of `convkit predict` (classProbabilities). */
export async function probabilities(run: LoadedRun, pixels: Float32Array): Promise<Float32Array | Float64Array> {
  const { input, shape } = networkInput(run.config, pixels);
  return withBackend('ref', () => classProbabilities(run.model, input, shape));
}

/** The classes by probability, most probable first (ties: the lower label first, as predict). */
export function topClasses(
  config: RunConfig,
  p: ArrayLike<number>,
  k: number,
): { label: number; name: string; probability: number }[] {
  const order = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  return order
    .slice(0, k)
    .map((label) => ({ label, name: config.classes[label] ?? String(label), probability: p[label] }));
}

/** A tensor's values without its batch axis of 1. */
export interface Values {
  shape: number[];
  values: Float32Array;
}

/** One op of the traced pass: its output, and for a unit view its operands and window. */
export interface LayerActivation {
  /** Order of the op in the pass. */
  index: number;
  /** The module path the op ran in ('' for the model itself). */
  path: string;
  op: string;
  output: Values;
  /** The data input of conv2d, relu and the pooling ops (not kept for the others). */
  input: Values | null;
  /** conv2d's weight (OIHW) and bias. */
  weight: Values | null;
  bias: Float32Array | null;
  window: OpEvent['window'];
  attrs: OpEvent['attrs'];
}

/** The attributes engine-unit.ts reads; the rest (a fused conv's addend, batch norm's statistics) are tensors, which a worker cannot post. */
const UNIT_ATTRS = ['geometry', 'countIncludePad', 'divisorOverride'] as const;

const cloneable = (attrs: OpEvent['attrs']): OpEvent['attrs'] =>
  Object.fromEntries(UNIT_ATTRS.filter((k) => k in attrs).map((k) => [k, attrs[k]]));

/** Ops whose unit the page explains (engine-unit.ts): their operands are kept. */
export const EXPLAINED_OPS = new Set(['conv2d', 'relu', 'maxPool2d', 'avgPool2d', 'adaptiveAvgPool2d']);

/** An activation's values; `batch`: drop its leading batch axis of 1 (not a weight's). */
const valuesOf = (t: Tensor, batch = true): Values => ({
  shape: batch && t.shape[0] === 1 ? t.shape.slice(1) : [...t.shape],
  values: Float32Array.from(t.toArray()),
});

/**
 * One pass of the plain (unfused) forward with every op's output kept: module tracing makes the
 * model run its layers one by one (src/nn/fuse.ts), so each convolution, batch norm and ReLU is an
 * op of its own with its own output.
 */
export function traceActivations(run: LoadedRun, pixels: Float32Array): LayerActivation[] {
  const { input, shape } = networkInput(run.config, pixels);
  const layers: LayerActivation[] = [];
  const keep = (e: OpEvent): void => {
    const explained = EXPLAINED_OPS.has(e.op);
    const [x, weight, bias] = e.inputs;
    layers.push({
      index: layers.length,
      path: e.path ?? '',
      op: e.op,
      output: valuesOf(e.output),
      input: explained && x ? valuesOf(x) : null,
      weight: e.op === 'conv2d' && weight ? valuesOf(weight, false) : null,
      bias: e.op === 'conv2d' && bias ? Float32Array.from(bias.toArray()) : null,
      window: e.window,
      attrs: cloneable(e.attrs),
    });
  };
  withBackend('ref', () =>
    scope(() =>
      noGrad(() => traceModules({}, () => traceOps(keep, () => run.model.call(fromArray(input, [1, ...shape]))))),
    ),
  );
  return layers;
}
