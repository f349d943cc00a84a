/**
 * Module: the base of every layer and model, after torch.nn.Module. A module owns named
 * parameters, buffers and child modules in registration order; that order and the dotted names
 * (`layer1.0.downsample.1.running_var`) are what state dicts, printing and error paths use.
 *
 * `Module<In, Out>` types the forward pass; almost every layer is `Module<Tensor, Tensor>`
 * (`TensorModule`), which is what Sequential and the blocks compose.
 */
import { ArgumentError } from '../core/errors.js';
import { withLayer } from '../core/layer-context.js';
import { keep } from '../core/scope.js';
import { describeValue, type Tensor } from '../core/tensor.js';
import { zerosLike } from '../ops/creation.js';
import { asParameter } from './parameter.js';
import { isTracingModules, tracedCall } from './trace-modules.js';
import {
  loadStateDict,
  stateDict,
  type LoadResult,
  type LoadStateDictOptions,
  type StateDict,
  type StateDictOptions,
  type StateDictSource,
} from './state-dict.js';

/** Any module, whatever it computes (its input type is unknown, so it cannot be called untyped). */
export type AnyModule = Module<never, unknown>;
/** The common case: one tensor in, one tensor out. */
export type TensorModule = Module<Tensor, Tensor>;

export interface BufferOptions {
  /** Default true. Non-persistent buffers are not part of the state dict. */
  persistent?: boolean;
}

export interface NamedOptions {
  /** Default true: include everything below this module, not only its own. */
  recurse?: boolean;
}

export abstract class Module<In = Tensor, Out = Tensor> {
  /** Training mode (batch statistics, dropout on); switch with train() and eval(). */
  training = true;
  private readonly parameterSlots = new Map<string, Tensor | null>();
  private readonly bufferSlots = new Map<string, Tensor | null>();
  private readonly nonPersistent = new Set<string>();
  private readonly moduleSlots = new Map<string, AnyModule | null>();
  /**
   * A fused form of forward() that `nn.fuse()` attached (see nn/fuse.ts): it returns the output
   * when fusion applies to this call (e.g. eval mode under noGrad), else undefined and forward()
   * runs. null: never fused.
   */
  fusedForward: ((input: In) => Out | undefined) | null = null;
  /** The module that registered this one first, and under which name (gives the path). */
  private owner: { parent: AnyModule; name: string } | null = null;

  /** The computation; call modules with `call()`, which names the layer in errors. */
  abstract forward(input: In): Out;

  /** Runs forward() with this module's path as the current layer, so op errors name it. */
  call(input: In): Out {
    this.checkInput(input);
    const run = (): Out =>
      withLayer(this.path, () => {
        const fused = this.fusedForward?.(input);
        return fused === undefined ? this.forward(input) : fused;
      });
    // Module tracing (analysis) sees each call's input and output; see trace-modules.ts.
    return isTracingModules() ? tracedCall(this, input, run) : run();
  }

  /**
   * Rejects an input with no tensor in it (a number, a plain array, undefined) with an
   * ArgumentError naming the layer, before forward() fails somewhere inside an op. Inputs that
   * hold tensors (a Tensor, a list of them) pass. A module whose input is not made of tensors
   * overrides this.
   */
  protected checkInput(input: In): void {
    if (containsTensor(input, 0)) return;
    throw new ArgumentError(this.typeName, `expected a Tensor as input, got ${describeValue(input)}`, this.path);
  }

  /** Dotted name from the root module ('' for the root itself), e.g. `layer1.0.conv1`. */
  get path(): string {
    const names: string[] = [];
    for (let m: AnyModule = this; m.owner !== null; m = m.owner.parent) names.push(m.owner.name);
    return names.reverse().join('.');
  }

  // ---- registration -------------------------------------------------------------------------

  /** Adds (or replaces) a parameter; the tensor becomes a kept leaf with requiresGrad. */
  registerParameter(name: string, value: Tensor, opts?: { requiresGrad?: boolean }): Tensor;
  registerParameter(name: string, value: Tensor | null, opts?: { requiresGrad?: boolean }): Tensor | null;
  registerParameter(name: string, value: Tensor | null, opts: { requiresGrad?: boolean } = {}): Tensor | null {
    this.checkName('registerParameter', name, this.parameterSlots);
    if (value !== null) asParameter(value, opts.requiresGrad ?? true);
    this.parameterSlots.set(name, value);
    return value;
  }

  /** Adds (or replaces) a buffer: state that is not trained (running statistics, counters). */
  registerBuffer(name: string, value: Tensor, opts?: BufferOptions): Tensor;
  registerBuffer(name: string, value: Tensor | null, opts?: BufferOptions): Tensor | null;
  registerBuffer(name: string, value: Tensor | null, opts: BufferOptions = {}): Tensor | null {
    this.checkName('registerBuffer', name, this.bufferSlots);
    if (value !== null) keep(value);
    this.bufferSlots.set(name, value);
    if (opts.persistent ?? true) this.nonPersistent.delete(name);
    else this.nonPersistent.add(name);
    return value;
  }

  /** Adds (or replaces) a child module; the child's path becomes this path plus `name`. */
  registerModule<M extends AnyModule>(name: string, module: M): M;
  registerModule<M extends AnyModule>(name: string, module: M | null): M | null;
  registerModule<M extends AnyModule>(name: string, module: M | null): M | null {
    this.checkName('registerModule', name, this.moduleSlots);
    if (module !== null) {
      if (module.modules().includes(this))
        throw new ArgumentError('registerModule', `'${name}' would make a module its own descendant`);
      // The first registration names the module, as the first name wins in PyTorch's named_modules.
      if (module.owner === null) module.owner = { parent: this, name };
    }
    this.moduleSlots.set(name, module);
    return module;
  }

  private checkName(where: string, name: string, own: ReadonlyMap<string, unknown>): void {
    if (name === '' || name.includes('.'))
      throw new ArgumentError(where, `name must be non-empty and contain no '.', got '${name}'`);
    const slots: ReadonlyMap<string, unknown>[] = [this.parameterSlots, this.bufferSlots, this.moduleSlots];
    if (slots.some((s) => s !== own && s.has(name)))
      throw new ArgumentError(where, `'${name}' is already registered as another kind of member`);
  }

  /** This module's own parameters in registration order (null marks an absent optional one, e.g. bias). */
  get ownParameters(): ReadonlyMap<string, Tensor | null> {
    return this.parameterSlots;
  }
  get ownBuffers(): ReadonlyMap<string, Tensor | null> {
    return this.bufferSlots;
  }
  get ownModules(): ReadonlyMap<string, AnyModule | null> {
    return this.moduleSlots;
  }
  isPersistentBuffer(name: string): boolean {
    return this.bufferSlots.has(name) && !this.nonPersistent.has(name);
  }

  // ---- traversal (each tensor and module once, first name wins, as PyTorch) ----------------

  /** Every module in pre-order with its dotted name; the root comes first with ''. */
  namedModules(): [string, AnyModule][] {
    const out: [string, AnyModule][] = [];
    const seen = new Set<AnyModule>();
    const visit = (m: AnyModule, prefix: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([prefix, m]);
      for (const [name, child] of m.moduleSlots) if (child) visit(child, prefix ? `${prefix}.${name}` : name);
    };
    visit(this, '');
    return out;
  }

  modules(): AnyModule[] {
    return this.namedModules().map(([, m]) => m);
  }

  namedChildren(): [string, AnyModule][] {
    const seen = new Set<AnyModule>();
    const out: [string, AnyModule][] = [];
    for (const [name, child] of this.moduleSlots) {
      if (child && !seen.has(child)) {
        seen.add(child);
        out.push([name, child]);
      }
    }
    return out;
  }

  children(): AnyModule[] {
    return this.namedChildren().map(([, m]) => m);
  }

  namedParameters(opts: NamedOptions = {}): [string, Tensor][] {
    return this.namedMembers(opts, (m) => m.parameterSlots);
  }

  parameters(opts: NamedOptions = {}): Tensor[] {
    return this.namedParameters(opts).map(([, t]) => t);
  }

  /** All buffers, persistent or not. */
  namedBuffers(opts: NamedOptions = {}): [string, Tensor][] {
    return this.namedMembers(opts, (m) => m.bufferSlots);
  }

  buffers(opts: NamedOptions = {}): Tensor[] {
    return this.namedBuffers(opts).map(([, t]) => t);
  }

  private namedMembers(
    opts: NamedOptions,
    slotsOf: (m: AnyModule) => ReadonlyMap<string, Tensor | null>,
  ): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const owners: [string, AnyModule][] = (opts.recurse ?? true) ? this.namedModules() : [['', this]];
    for (const [prefix, m] of owners) {
      for (const [name, t] of slotsOf(m)) {
        if (t === null || seen.has(t)) continue;
        seen.add(t);
        out.push([prefix ? `${prefix}.${name}` : name, t]);
      }
    }
    return out;
  }

  /** Number of parameter elements (each shared tensor counted once). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !opts.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.size, 0);
  }

  // ---- modes and bookkeeping ----------------------------------------------------------------

  /** Sets training mode here and in every descendant. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.children()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every descendant, children before parents, then on this module (nn.Module.apply). */
  apply(fn: (module: AnyModule) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  /** Clears gradients: drops them (the default, as PyTorch 2) or fills them with zeros. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const p of this.parameters()) {
      if (p.grad === null) continue;
      if (opts.setToNone ?? true) {
        p.grad.dispose();
        p.grad = null;
      } else {
        const zero = zerosLike(p.grad);
        p.grad.assign(zero);
        zero.dispose();
      }
    }
  }

  /** Frees every parameter and buffer; the module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) t.dispose();
  }

  // ---- state dicts (see state-dict.ts) ------------------------------------------------------

  stateDict(opts: StateDictOptions = {}): StateDict {
    return stateDict(this, opts);
  }

  loadStateDict(source: StateDictSource, opts: LoadStateDictOptions = {}): LoadResult {
    return loadStateDict(this, source, opts);
  }

  // ---- printing -----------------------------------------------------------------------------

  /** The layer's settings inside the parentheses of toString(), as PyTorch's extra_repr. */
  protected extraRepr(): string {
    return '';
  }

  /** The class name shown by toString(). */
  get typeName(): string {
    return this.constructor.name;
  }

  /** A tree like PyTorch's repr: `Sequential(\n  (0): Conv2d(3, 64, kernel_size=(11, 11), ...)\n)`. */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = [...this.moduleSlots].map(
      ([name, m]) => `(${name}): ${indentTail(m === null ? 'None' : m.toString(), 2)}`,
    );
    const lines = [...extraLines, ...childLines];
    if (lines.length === 0) return `${this.typeName}()`;
    if (extraLines.length === 1 && childLines.length === 0) return `${this.typeName}(${extraLines[0]})`;
    return `${this.typeName}(\n  ${lines.join('\n  ')}\n)`;
  }
}

/** Indents every line but the first (PyTorch's _addindent). */
function indentTail(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text.split('\n').join(`\n${pad}`);
}

/** Whether value is a tensor or holds one (in an array, or an object's values, a few levels down). */
function containsTensor(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object' || depth > 3) return false;
  if ((value as { isTensor?: unknown }).isTensor === true) return true;
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  return items.some((v) => containsTensor(v, depth + 1));
}
