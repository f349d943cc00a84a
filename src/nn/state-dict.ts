/**
 * State dicts: a module's parameters and persistent buffers under PyTorch's dotted keys, in
 * PyTorch's order (a module's own parameters, then its own persistent buffers, then each child
 * recursively), so weights move between convkit and torchvision unchanged.
 *
 * A state dict is a `Map<string, Tensor>`: a Map keeps insertion order for every key, whereas a
 * plain object would move integer-like keys to the front, and it has a typed get/has/size.
 * Loading also accepts a plain record.
 *
 * Interop note: BatchNorm's `num_batches_tracked` is a float tensor of shape [] here (convkit has
 * float dtypes only); PyTorch's is int64, so converters cast it.
 */
import { WeightsError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { formatShape, shapesEqual } from '../core/shape.js';
import { describeValue, type Tensor } from '../core/tensor.js';
import { to } from '../ops/convert.js';
import { wrap } from '../ops/util.js';
import type { AnyModule } from './module.js';

export type StateDict = Map<string, Tensor>;
export type StateDictSource = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

export interface StateDictOptions {
  /**
   * Default false: values are detached tensors sharing the module's memory (they see in-place
   * optimiser steps, but not a later loadStateDict, which gives the module fresh memory).
   * True: the module's own tensors (PyTorch's keep_vars).
   */
  keepVars?: boolean;
}

export interface LoadStateDictOptions {
  /** Default true: every missing or unexpected key is an error. Shape mismatches always are. */
  strict?: boolean;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export function stateDict(module: AnyModule, opts: StateDictOptions = {}): StateDict {
  const out: StateDict = new Map();
  const value = (t: Tensor): Tensor => (opts.keepVars ? t : t.detach());
  const walk = (m: AnyModule, prefix: string): void => {
    for (const [name, p] of m.ownParameters) if (p) out.set(prefix + name, value(p));
    for (const [name, b] of m.ownBuffers) if (b && m.isPersistentBuffer(name)) out.set(prefix + name, value(b));
    // No de-duplication here, as in PyTorch: a module registered twice appears under both names.
    for (const [name, child] of m.ownModules) if (child) walk(child, `${prefix}${name}.`);
  };
  walk(module, '');
  return out;
}

/**
 * How values get into the module: `copy` (the default: the module never shares memory with the
 * dict), or `take`, for values private to the load (a weight file's reader made them and disposes
 * them after): one already of the parameter's dtype and backend becomes its memory as it is.
 */
export type LoadOwnership = 'copy' | 'take';

/**
 * Copies values into the module's parameters and buffers (cast to their dtype and backend). All
 * problems are found before anything is copied and reported in one WeightsError, so a failed load
 * leaves the module unchanged. `ownership` is for loaders only (see LoadOwnership).
 */
export function loadStateDict(
  module: AnyModule,
  source: StateDictSource,
  opts: LoadStateDictOptions = {},
  ownership: LoadOwnership = 'copy',
): LoadResult {
  const strict = opts.strict ?? true;
  if (source === null || typeof source !== 'object' || Array.isArray(source) || isTensor(source)) {
    throw new WeightsError(
      'loadStateDict',
      `expected a state dict (a Map or a record from keys to Tensors), got ${describeValue(source)}`,
    );
  }
  const given: ReadonlyMap<string, unknown> = isMap(source) ? source : new Map(Object.entries(source));
  const targets = stateDict(module, { keepVars: true });
  const missingKeys = [...targets.keys()].filter((k) => !given.has(k));
  const unexpectedKeys = [...given.keys()].filter((k) => !targets.has(k));
  const mismatches: string[] = [];
  const notTensors: string[] = [];
  for (const [key, target] of targets) {
    if (!given.has(key)) continue;
    const value = given.get(key);
    if (!isTensor(value)) {
      notTensors.push(`${key}: expected a Tensor of shape ${formatShape(target.shape)}, got ${describeValue(value)}`);
    } else if (!shapesEqual(value.shape, target.shape)) {
      mismatches.push(`${key}: expected ${formatShape(target.shape)}, got ${formatShape(value.shape)}`);
    }
  }
  const problems = [
    strict ? listing(missingKeys, 'missing key', 'missing keys') : '',
    strict ? listing(unexpectedKeys, 'unexpected key', 'unexpected keys') : '',
    listing(notTensors, 'value that is not a tensor', 'values that are not tensors'),
    listing(mismatches, 'shape mismatch', 'shape mismatches'),
  ].filter((s) => s !== '');
  if (problems.length > 0) throw new WeightsError('loadStateDict', problems.join(', '));
  noGrad(() => {
    for (const [key, target] of targets) {
      const value = given.get(key);
      if (!isTensor(value)) continue;
      if (ownership === 'take' && value.backend === target.backend && value.dtype === target.dtype)
        target.assign(value);
      else copyInto(target, value);
    }
  });
  return { missingKeys, unexpectedKeys };
}

/** `2 missing keys (fc.weight, fc.bias)`, or '' when there are none. */
function listing(items: readonly string[], one: string, many: string): string {
  if (items.length === 0) return '';
  return `${items.length} ${items.length === 1 ? one : many} (${items.join(', ')})`;
}

function isMap(source: StateDictSource): source is ReadonlyMap<string, Tensor> {
  return source instanceof Map;
}

function isTensor(v: unknown): v is Tensor {
  return (v as { isTensor?: unknown } | null | undefined)?.isTensor === true;
}

/**
 * Gives dst a private copy of src's values: the cast kernel always copies, so the module never
 * shares memory with the dict it loaded from (optimiser steps write parameters in place).
 */
function copyInto(dst: Tensor, src: Tensor): void {
  const moved = src.backend === dst.backend ? src : to(src, dst.backend.name);
  const copy = wrap(dst.backend.kernels.cast({ x: moved.storage, dtype: dst.dtype }), dst.shape, dst.backend);
  dst.assign(copy);
  copy.dispose();
  if (moved !== src) moved.dispose();
}
