/**
 * The optimiser state dict: everything but the tensors is plain JSON, and the state tensors sit in
 * a Map keyed `<parameter index>.<name>`, ready for a checkpoint to write next to the model's
 * weights (for instance as `optimizer.<key>` in a safetensors file). Values round-trip exactly.
 */
import { WeightsError } from '../core/errors.js';
import { keep } from '../core/scope.js';
import { formatShape, shapesEqual } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import type { Fail, HyperValue } from './hyper.js';
import type { ParamState } from './optimizer.js';

export interface SavedParamGroup {
  /** Indices of the group's parameters, counted through all groups in order (as PyTorch's). */
  params: number[];
  /** The group's hyper-parameters under convkit's option names (lr, weightDecay, betas, ...). */
  hyper: Record<string, HyperValue>;
  /** The lr the first schedule started from, when a schedule was attached. */
  initialLr?: number;
}

export interface OptimizerStateDict {
  /** The optimiser that wrote it: 'SGD', 'Adam' or 'AdamW'. */
  optimizer: string;
  groups: SavedParamGroup[];
  /** Updates received, by parameter index, for every parameter that has state. */
  steps: Record<string, number>;
  /**
   * Copies of the state tensors, keyed `<parameter index>.<name>` (e.g. `3.expAvg`), in the
   * parameter's dtype and on its backend. The caller owns them: dispose them once written.
   */
  tensors: Map<string, Tensor>;
}

/** A contiguous copy of `src` with the backend, dtype and shape of `like`. */
function copyLike(src: Tensor, like: Tensor): Tensor {
  const storage =
    src.backend === like.backend
      ? like.backend.kernels.cast({ x: src.storage, dtype: like.dtype })
      : like.backend.write(src.toArray(), like.dtype);
  return new Tensor(storage, like.shape, like.backend);
}

export function saveOptimizerState<G extends { params: Tensor[]; initialLr?: number }>(
  name: string,
  groups: readonly G[],
  state: ReadonlyMap<Tensor, ParamState>,
  hyperRecord: (group: G) => Record<string, HyperValue>,
): OptimizerStateDict {
  let index = 0;
  const steps: Record<string, number> = {};
  const tensors = new Map<string, Tensor>();
  const saved = groups.map((group): SavedParamGroup => {
    const params = group.params.map((param) => {
      const i = index++;
      const s = state.get(param);
      if (s !== undefined) {
        steps[i] = s.step;
        for (const [bufferName, t] of s.buffers) tensors.set(`${i}.${bufferName}`, copyLike(t, t));
      }
      return i;
    });
    return {
      params,
      hyper: hyperRecord(group),
      ...(group.initialLr === undefined ? {} : { initialLr: group.initialLr }),
    };
  });
  return { optimizer: name, groups: saved, steps, tensors };
}

/** What loadOptimizerState needs to know about the optimiser it loads into. */
export interface LoadTarget<H> {
  readonly name: string;
  readonly paramGroups: readonly { readonly params: readonly Tensor[] }[];
  readonly stateNames: readonly string[];
  requiredState(group: H): readonly string[];
}

export interface LoadedState<H> {
  groups: H[];
  initialLrs: (number | undefined)[];
  state: Map<Tensor, ParamState>;
}

const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Checks a state dict against the optimiser, then copies its tensors; throws WeightsError. */
export function loadOptimizerState<H>(
  target: LoadTarget<H>,
  dict: OptimizerStateDict,
  parse: (record: Readonly<Record<string, unknown>>, fail: Fail) => H,
): LoadedState<H> {
  const fail: Fail = (detail) => {
    throw new WeightsError(target.name, `cannot load state dict: ${detail}`);
  };
  if (dict.optimizer !== target.name)
    fail(`it was written by ${String(dict.optimizer)}, this optimiser is ${target.name}`);
  if (!Array.isArray(dict.groups) || dict.groups.length !== target.paramGroups.length) {
    fail(
      `it has ${Array.isArray(dict.groups) ? dict.groups.length : 'no'} parameter groups, the optimiser ${target.paramGroups.length}`,
    );
  }
  const byIndex = new Map<number, { param: Tensor; group: number }>();
  const groups = dict.groups.map((saved, g) => {
    const params = target.paramGroups[g].params;
    if (!Array.isArray(saved.params) || saved.params.length !== params.length) {
      fail(
        `parameter group ${g} has ${Array.isArray(saved.params) ? saved.params.length : 'no'} parameters, the optimiser's ${params.length}`,
      );
    }
    saved.params.forEach((index, j) => {
      if (!isInteger(index) || byIndex.has(index))
        fail(`parameter group ${g} lists a bad or repeated parameter index ${String(index)}`);
      byIndex.set(index, { param: params[j], group: g });
    });
    if (saved.initialLr !== undefined && typeof saved.initialLr !== 'number')
      fail(`parameter group ${g}: initialLr must be a number`);
    return parse(saved.hyper, (detail) => fail(`parameter group ${g}: ${detail}`));
  });
  const owner = (key: string, index: number): { param: Tensor; group: number } => {
    const found = byIndex.get(index);
    if (found === undefined) fail(`${key} refers to parameter ${index}, which no group lists`);
    return found;
  };

  const steps = new Map<number, number>();
  for (const [key, step] of Object.entries(dict.steps)) {
    const index = Number(key);
    owner(`step count '${key}'`, index);
    if (!isInteger(step))
      fail(`the step count of parameter ${key} must be a non-negative integer, got ${String(step)}`);
    steps.set(index, step);
  }
  const buffers = new Map<number, Map<string, Tensor>>();
  for (const [key, t] of dict.tensors) {
    const match = /^(\d+)\.(\w+)$/.exec(key);
    if (match === null) fail(`state tensor key '${key}' is not '<parameter index>.<name>'`);
    const index = Number(match[1]);
    const { param } = owner(`state tensor '${key}'`, index);
    if (!target.stateNames.includes(match[2]))
      fail(`state tensor '${key}': ${target.name} keeps no '${match[2]}' (it keeps ${target.stateNames.join(', ')})`);
    if (!(t instanceof Tensor) || t.disposed) fail(`state tensor '${key}' is not a live tensor`);
    if (!shapesEqual(t.shape, param.shape))
      fail(
        `state tensor '${key}' has shape ${formatShape(t.shape)}, parameter ${index} has ${formatShape(param.shape)}`,
      );
    if (!steps.has(index)) fail(`state tensor '${key}' belongs to parameter ${index}, which has no step count`);
    const own = buffers.get(index) ?? new Map<string, Tensor>();
    own.set(match[2], t);
    buffers.set(index, own);
  }
  for (const [index, step] of steps) {
    if (step === 0) continue;
    const required = target.requiredState(groups[owner('', index).group]);
    const missing = required.filter((n) => !buffers.get(index)?.has(n));
    if (missing.length > 0)
      fail(
        `parameter ${index} has taken ${step} steps but its ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`,
      );
  }

  // Every check passed: copy the tensors onto the parameters' backends and dtypes.
  const state = new Map<Tensor, ParamState>();
  for (const [index, step] of steps) {
    const { param } = owner('', index);
    const copies = new Map<string, Tensor>();
    for (const [n, t] of buffers.get(index) ?? []) copies.set(n, keep(copyLike(t, param)));
    state.set(param, { step, buffers: copies });
  }
  return { groups, initialLrs: dict.groups.map((g) => g.initialLr), state };
}
