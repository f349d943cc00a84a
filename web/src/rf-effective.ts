/**
 * The effective receptive field of one unit (Luo et al. 2016): |d unit / d input| per input
 * pixel, computed with convkit's own autograd on the reference backend (plain TypeScript, so it
 * runs in a browser). The model is freshly initialised from a fixed seed and run in eval mode:
 * batch norm then uses its running statistics, a per-channel affine map, so no unit depends on
 * pixels outside its theoretical field (batch statistics would make every unit depend on every
 * pixel). No DOM here: the page's worker (rf-worker.ts) and Node both run it.
 */
import { ArgumentError } from '../../src/core/errors.js';
import { enableGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { tensorsIn } from '../../src/analysis/trace-model.js';
import type { AnyModule, TensorModule } from '../../src/nn/module.js';
import { traceModules } from '../../src/nn/trace-modules.js';
import { fromArray } from '../../src/ops/creation.js';
import { getModel } from '../../src/models/registry.js';

/** The seed of the fresh initialisation the page shows (the same weights on every visit). */
export const FIELD_SEED = 0;

export interface FieldRequest {
  model: string;
  /** One image, [channels, height, width], values as the network takes them. */
  input: readonly [number, number, number];
  image: Float32Array;
  /** The module call whose output holds the unit: the index of its `summarize` row (pre-order call order). */
  call: number;
  /** The unit's position on that output's grid. */
  unit: readonly [number, number];
  /** One output channel, or null for the sum over all channels at the unit's position. */
  channel: number | null;
}

export interface FieldResult {
  /** sum over input channels of |d unit / d input|, [height, width] row-major. */
  gradient: Float32Array;
  /** Shape of the call's output, [batch, channels, height, width]. */
  outputShape: number[];
  /** Milliseconds building (0 when the model was cached) and computing forward plus backward. */
  buildMs: number;
  computeMs: number;
}

export type FieldProgress = (stage: 'building' | 'forward' | 'backward', done: number, total: number) => void;

/** Thrown from the module listener once the chosen call has its gradient: later layers cannot change it. */
class Reached {
  constructor(readonly gradient: Float32Array) {}
}

/** The last model built: one at a time, since VGG-19's weights alone take 575 MB. */
let built: { key: string; model: TensorModule } | null = null;

/** The model at seed FIELD_SEED on the reference backend, in eval mode, kept while it is asked for again. */
function modelFor(name: string, inChannels: number): { model: TensorModule; buildMs: number } {
  const key = `${name}|${inChannels}`;
  if (built?.key === key) return { model: built.model, buildMs: 0 };
  built = null;
  const t0 = performance.now();
  manualSeed(FIELD_SEED);
  const model = getModel(name).build({ backend: 'ref', inChannels });
  model.eval();
  // Only the input's gradient is wanted: no weight gradients (half of the backward work).
  for (const p of model.parameters()) p.requireGrad(false);
  built = { key, model };
  return { model, buildMs: performance.now() - t0 };
}

/** A gradient seed for `out`: 1 at the unit (in one channel or every channel), 0 elsewhere. */
function unitSeed(out: Tensor, unit: readonly [number, number], channel: number | null): Tensor {
  const [n, c, h, w] = out.shape;
  const [y, x] = unit;
  if (out.shape.length !== 4 || n !== 1 || !(y >= 0 && y < h && x >= 0 && x < w))
    throw new ArgumentError(
      'effectiveField',
      `unit: expected a position on the output grid ${out.shape.join('x')}, got (${y}, ${x})`,
      '',
    );
  if (channel !== null && !(channel >= 0 && channel < c))
    throw new ArgumentError('effectiveField', `channel: expected 0 to ${c - 1}, got ${channel}`, '');
  const seed = new Float32Array(out.size);
  for (let k = 0; k < c; k++) if (channel === null || k === channel) seed[(k * h + y) * w + x] = 1;
  return fromArray(seed, out.shape, { backend: out.backend.name });
}

/** sum over channels of |g| for a [1, C, H, W] gradient. */
function absSumChannels(g: Tensor): Float32Array {
  const [, c, h, w] = g.shape;
  const values = g.toArray();
  const out = new Float32Array(h * w);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[i] += Math.abs(values[k * h * w + i]);
  return out;
}

/** |d unit / d input| of the request's unit, summed over the input's channels. */
export function effectiveField(req: FieldRequest, progress: FieldProgress = () => {}): FieldResult {
  const [channels, height, width] = req.input;
  if (req.image.length !== channels * height * width)
    throw new ArgumentError(
      'effectiveField',
      `image: expected ${channels}x${height}x${width} = ${channels * height * width} values, got ${req.image.length}`,
      '',
    );
  progress('building', 0, 1);
  const { model, buildMs } = modelFor(req.model, channels);
  const t0 = performance.now();
  let outputShape: number[] = [];
  const gradient = scope(() =>
    enableGrad(() => {
      const x = fromArray(req.image, [1, channels, height, width], { backend: 'ref' }).requireGrad();
      // Calls are numbered on entry, as summarize numbers its rows; a call's output comes on its exit.
      const open: number[] = [];
      let entered = 0;
      const enter = (): void => {
        open.push(entered++);
        if (entered <= req.call + 1) progress('forward', entered, req.call + 1);
      };
      const exit = (_m: AnyModule, output: unknown): void => {
        if (open.pop() !== req.call) return;
        const out = tensorsIn(output)[0];
        outputShape = [...out.shape];
        progress('backward', 0, 1);
        out.backward(unitSeed(out, req.unit, req.channel));
        throw new Reached(x.grad ? absSumChannels(x.grad) : new Float32Array(height * width));
      };
      try {
        traceModules({ enter, exit }, () => model.call(x));
      } catch (err) {
        if (err instanceof Reached) return err.gradient;
        throw err;
      }
      throw new ArgumentError('effectiveField', `call: expected a module call of ${req.model}, got ${req.call}`, '');
    }),
  );
  return { gradient, outputShape, buildMs, computeMs: performance.now() - t0 };
}
