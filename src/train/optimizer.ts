/**
 * The optimiser base, after torch.optim.Optimizer: parameter groups with their own
 * hyper-parameters, per-parameter state on the parameter's backend, zeroGrad, and a state dict a
 * checkpoint can save and restore exactly. Subclasses say how to read their hyper-parameters and
 * how to update one parameter; the update runs in a backend kernel, in place on the parameter's
 * storage, so a native backend never moves weights through JavaScript.
 */
import type { KernelSpecs } from '../backend/backend.js';
import { ArgumentError, BackendError, DTypeError, ShapeError } from '../core/errors.js';
import { keep } from '../core/scope.js';
import { formatShape, shapesEqual } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { zerosLike } from '../ops/creation.js';
import type { Fail, HyperValue } from './hyper.js';
import { loadOptimizerState, type OptimizerStateDict, saveOptimizerState } from './optimizer-state.js';

/** Hyper-parameters every optimiser has. Schedules read and write `lr`. */
export interface BaseHyper {
  lr: number;
  weightDecay: number;
  maximize: boolean;
}

/** A parameter group: its parameters and its hyper-parameters, readable and writable. */
export type ParamGroup<H extends BaseHyper> = H & {
  params: Tensor[];
  /** The lr the first schedule started from (PyTorch's initial_lr); set by that schedule. */
  initialLr?: number;
};

/** A group as the constructor takes it: parameters plus overrides of the optimiser's options. */
export type ParamGroupInput<H extends BaseHyper> = { params: Iterable<Tensor> } & Partial<H>;

/** Parameters as a list of tensors (one group) or a list of groups. */
export type ParamsInput<H extends BaseHyper> = Iterable<Tensor> | Iterable<ParamGroupInput<H>>;

/** An update's kernel and its arguments other than tensors: what a replayed recording passes anew. */
export type StepScalars =
  | { kernel: 'sgdStep'; args: Omit<KernelSpecs['sgdStep']['args'], 'param' | 'grad' | 'momentumBuffer'> }
  | {
      kernel: 'adamStep';
      args: Omit<KernelSpecs['adamStep']['args'], 'param' | 'grad' | 'expAvg' | 'expAvgSq' | 'maxExpAvgSq'>;
    };

/** What an optimiser remembers about one parameter. */
export interface ParamState {
  /** How many updates the parameter received (Adam's t). */
  step: number;
  /** State tensors by name (momentumBuffer; expAvg, expAvgSq, maxExpAvgSq), kept from scopes. */
  buffers: Map<string, Tensor>;
}

export interface ZeroGradOptions {
  /** Drop (dispose) the gradients instead of filling them with zeros. Default true. */
  setToNone?: boolean;
}

export abstract class Optimizer<H extends BaseHyper = BaseHyper> {
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();
  /** The optimiser's options merged over its defaults (PyTorch's `defaults`). */
  protected readonly defaults: Readonly<Record<string, unknown>>;
  private readonly explicitGroups: boolean;

  constructor(
    /** 'SGD', 'Adam', 'AdamW': errors and state dicts carry it. */
    readonly name: string,
    params: ParamsInput<H>,
    defaults: Partial<H>,
    options: Partial<H>,
  ) {
    this.defaults = { ...definedEntries(defaults), ...definedEntries(options) };
    if (params instanceof Tensor)
      throw new ArgumentError(
        name,
        'params must be a list of tensors or of parameter groups, got one tensor; wrap it in [ ]',
      );
    const items: (Tensor | ParamGroupInput<H>)[] = [...params];
    if (items.length === 0) throw new ArgumentError(name, 'got an empty parameter list');
    this.explicitGroups = !(items[0] instanceof Tensor);
    for (const item of items) {
      if (item instanceof Tensor) {
        if (this.explicitGroups)
          throw new ArgumentError(name, 'params must be all tensors or all parameter groups, not a mix');
        continue;
      }
      if (!this.explicitGroups)
        throw new ArgumentError(name, 'params must be all tensors or all parameter groups, not a mix');
      this.addParamGroup(item);
    }
    if (!this.explicitGroups)
      this.addGroup(
        items.filter((t): t is Tensor => t instanceof Tensor),
        {},
      );
  }

  /** Checks a merged record of hyper-parameters (types, ranges, unknown keys) and returns them. */
  protected abstract parseHyper(record: Readonly<Record<string, unknown>>, fail: Fail): H;
  /** Updates one parameter whose gradient is present and checked. `state.step` already counts it. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): void;
  /**
   * The kernel and non-tensor arguments update() passes for a parameter of `group` whose state
   * tensors exist (its step already counted): a recorded step passes them anew at each replay.
   */
  protected abstract stepScalars(group: ParamGroup<H>, state: ParamState): StepScalars;
  /** What a recorded step bakes in besides its scalars (which state tensors exist): a change records again. */
  protected abstract recordedShape(group: H): unknown;
  /** Names of the state tensors this optimiser keeps. */
  abstract readonly stateNames: readonly string[];
  /** State tensors a parameter that has been stepped must have (checked when loading). */
  abstract requiredState(group: H): readonly string[];

  /** Adds a group, like torch's add_param_group: missing hyper-parameters come from the options. */
  addParamGroup(input: ParamGroupInput<H>): void {
    const { params, ...overrides } = input;
    this.addGroup(params, overrides);
  }

  private addGroup(input: Iterable<Tensor>, overrides: object): void {
    const label = this.explicitGroups ? `parameter group ${this.paramGroups.length}: ` : '';
    const fail: Fail = (detail) => {
      throw new ArgumentError(this.name, label + detail);
    };
    const params = input instanceof Tensor ? [input] : [...input];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) fail(`params[${i}] is not a tensor`);
      if (!p.isLeaf)
        fail(`params[${i}] is not a leaf tensor (it was made by ${p.gradFn?.op}); optimise the leaf it came from`);
      if (seen.has(p)) fail(`params[${i}] appears twice (in this group or an earlier one)`);
      seen.add(p);
    });
    const hyper = this.parseHyper({ ...this.defaults, ...definedEntries(overrides) }, fail);
    this.paramGroups.push({ ...hyper, params });
  }

  /**
   * One update of every parameter that has a gradient; parameters without one are skipped. All
   * gradients are checked before any parameter changes.
   */
  step(): void {
    const work: [Tensor, Tensor, ParamGroup<H>][] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        const grad = param.grad;
        if (grad !== null && !grad.disposed) {
          this.checkGrad(param, grad, index);
          work.push([param, grad, group]);
        }
        index++;
      }
    }
    for (const [param, grad, group] of work) {
      let state = this.state.get(param);
      if (state === undefined) {
        state = { step: 0, buffers: new Map() };
        this.state.set(param, state);
      }
      state.step += 1;
      this.update(param, grad, group, state);
    }
  }

  /** Clears the gradients: disposes them (the default, as PyTorch 2) or fills them with zeros. */
  zeroGrad({ setToNone = true }: ZeroGradOptions = {}): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        const grad = param.grad;
        if (grad === null) continue;
        if (setToNone || grad.disposed) {
          grad.dispose();
          param.grad = null;
        } else {
          const zeros = zerosLike(grad);
          grad.assign(zeros);
          zeros.dispose();
        }
      }
    }
  }

  /** Per-group hyper-parameters, step counts and copies of the state tensors (see OptimizerStateDict). */
  stateDict(): OptimizerStateDict {
    return saveOptimizerState(this.name, this.paramGroups, this.state, (group) => this.hyperRecord(group));
  }

  /**
   * Restores a state dict written by an optimiser of the same kind over parameters of the same
   * shapes, in the same group layout. Everything is checked before anything changes; the state
   * tensors are copied onto each parameter's backend and dtype.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const loaded = loadOptimizerState(this, dict, (record, fail) => this.parseHyper(record, fail));
    this.disposeState();
    loaded.groups.forEach((hyper, i) => {
      const group = this.paramGroups[i];
      Object.assign(group, hyper);
      if (loaded.initialLrs[i] === undefined) delete group.initialLr;
      else group.initialLr = loaded.initialLrs[i];
    });
    for (const [param, state] of loaded.state) this.state.set(param, state);
  }

  /** The state of one parameter, or undefined before its first update. */
  stateOf(param: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(param);
  }

  /**
   * Counts one update of each of `params` made outside step(), by a recorded step replayed
   * (recordTrainingStep), and returns the scalars each update runs with, in order.
   */
  replayStep(params: readonly Tensor[]): StepScalars[] {
    const groups = new Map(this.paramGroups.flatMap((g) => g.params.map((p) => [p, g] as const)));
    return params.map((param) => {
      const [state, group] = [this.state.get(param), groups.get(param)];
      if (state === undefined || group === undefined)
        throw new ArgumentError(this.name, 'a replayed step updates a parameter this optimiser has not stepped');
      state.step += 1;
      return this.stepScalars(group, state);
    });
  }

  /** Per group, its parameter count and what recordedShape says: a recorded step holds while this does. */
  recordingKey(): string {
    return JSON.stringify(this.paramGroups.map((g) => [g.params.length, this.recordedShape(g)]));
  }

  /** Frees every state tensor; the optimiser starts afresh on the next step. */
  dispose(): void {
    this.disposeState();
  }

  /** A state tensor of `param`, created as zeros on the parameter's backend when missing. */
  protected buffer(param: Tensor, state: ParamState, name: string): { tensor: Tensor; fresh: boolean } {
    const existing = state.buffers.get(name);
    if (existing !== undefined && !existing.disposed) return { tensor: existing, fresh: false };
    const tensor = keep(zerosLike(param));
    state.buffers.set(name, tensor);
    return { tensor, fresh: true };
  }

  private hyperRecord(group: ParamGroup<H>): Record<string, HyperValue> {
    const { params: _params, initialLr: _initialLr, ...hyper } = group;
    const record: Record<string, HyperValue> = {};
    for (const [key, value] of Object.entries(hyper)) {
      if (typeof value === 'number' || typeof value === 'boolean') record[key] = value;
      else if (Array.isArray(value)) record[key] = value.map(Number);
    }
    return record;
  }

  private checkGrad(param: Tensor, grad: Tensor, index: number): void {
    if (grad.backend !== param.backend) {
      throw new BackendError(
        this.name,
        `the gradient of parameter ${index} lives on '${grad.backend.name}', the parameter on '${param.backend.name}'`,
      );
    }
    if (grad.dtype !== param.dtype)
      throw new DTypeError(
        this.name,
        `the gradient of parameter ${index} is ${grad.dtype}, the parameter ${param.dtype}`,
      );
    if (!shapesEqual(grad.shape, param.shape)) {
      throw new ShapeError(
        this.name,
        `the gradient of parameter ${index} has shape ${formatShape(grad.shape)}, the parameter ${formatShape(param.shape)}`,
      );
    }
  }

  private disposeState(): void {
    for (const state of this.state.values()) for (const t of state.buffers.values()) t.dispose();
    this.state.clear();
  }
}

/** The entries whose value is not undefined (so `{ lr: undefined }` keeps the default). */
function definedEntries(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}
