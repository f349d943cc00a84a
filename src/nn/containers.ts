/**
 * Containers: Sequential (runs its children in order), ModuleList and ModuleDict (hold children
 * for a parent's own forward). Children are named '0', '1', ... unless names are given, so
 * state-dict keys match torchvision (`features.0.weight`, `features.conv0.weight`).
 */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { forgetFusedPlan, type Fusable, type FusionPattern } from './fuse.js';
import { freeConsumed } from './intermediates.js';
import { Module, type AnyModule, type TensorModule } from './module.js';

/** Children given as a list (named by position) or as [name, module] pairs or a record, in order. */
export type NamedModules<M> = readonly M[] | Iterable<readonly [string, M]> | Readonly<Record<string, M>>;

/** [name, module] pairs from any of the accepted forms; a list gets its positions as names. */
export function entriesOf<M extends AnyModule>(modules: NamedModules<M>): [string, M][] {
  if (isList(modules)) return modules.map((m, i) => [String(i), m]);
  if (isIterable(modules)) return [...modules].map(([name, m]) => [name, m]);
  return Object.entries(modules);
}

function isList<M>(v: NamedModules<M>): v is readonly M[] {
  return Array.isArray(v) && (v.length === 0 || !Array.isArray(v[0]));
}

function isIterable<M>(v: NamedModules<M>): v is Iterable<readonly [string, M]> {
  return Symbol.iterator in v;
}

/**
 * Calls each child on the output of the one before (nn.Sequential). For nn.fuse() it is a chain of
 * its children (conv + BN + ReLU, BN + ReLU, linear + ReLU fuse; see nn/fuse.ts).
 */
export class Sequential extends Module implements Fusable {
  private readonly layers = new Map<string, TensorModule>();

  constructor(...layers: TensorModule[]) {
    super();
    for (const layer of layers) this.append(layer);
  }

  /** A Sequential with named children, e.g. DenseNet's `features.conv0`, `features.norm0`. */
  static named(layers: NamedModules<TensorModule>): Sequential {
    const s = new Sequential();
    for (const [name, layer] of entriesOf(layers)) s.add(name, layer);
    return s;
  }

  /** Adds (or replaces) a child under `name` (PyTorch's add_module). */
  add<M extends TensorModule>(name: string, layer: M): M {
    this.registerModule(name, layer);
    this.layers.set(name, layer);
    forgetFusedPlan(this);
    return layer;
  }

  /** Adds a child named by its position. */
  append<M extends TensorModule>(layer: M): M {
    return this.add(String(this.layers.size), layer);
  }

  get length(): number {
    return this.layers.size;
  }

  /** The child at a position (negative counts from the end). */
  at(index: number): TensorModule {
    const all = [...this.layers.values()];
    const layer = all[index < 0 ? index + all.length : index];
    if (!Number.isInteger(index) || layer === undefined)
      throw new ArgumentError('Sequential', `index ${index} is out of range for ${all.length} layers`);
    return layer;
  }

  get(name: string): TensorModule | undefined {
    return this.layers.get(name);
  }

  [Symbol.iterator](): IterableIterator<TensorModule> {
    return this.layers.values();
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.layers.values()) {
      const next = layer.call(y);
      freeConsumed(y, x, next);
      y = next;
    }
    return y;
  }

  fusionPattern(): FusionPattern {
    return { kind: 'chain', steps: [...this.layers.values()] };
  }
}

/** A list of children that the parent's forward uses as it likes (nn.ModuleList). */
export class ModuleList<M extends AnyModule = TensorModule> extends Module<never, never> {
  private readonly items: M[] = [];

  constructor(modules: readonly M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: M): M {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return module;
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): M {
    const m = this.items[index < 0 ? index + this.items.length : index];
    if (!Number.isInteger(index) || m === undefined)
      throw new ArgumentError('ModuleList', `index ${index} is out of range for ${this.items.length} modules`);
    return m;
  }

  [Symbol.iterator](): IterableIterator<M> {
    return this.items.values();
  }

  forward(): never {
    throw new ArgumentError(
      'ModuleList',
      'a ModuleList has no forward; iterate over it in the forward of the module that owns it',
    );
  }
}

/** Named children that the parent's forward uses as it likes (nn.ModuleDict). */
export class ModuleDict<M extends AnyModule = TensorModule> extends Module<never, never> {
  private readonly items = new Map<string, M>();

  constructor(modules: Iterable<readonly [string, M]> | Readonly<Record<string, M>> = []) {
    super();
    for (const [name, m] of entriesOf<M>(modules)) this.set(name, m);
  }

  set(name: string, module: M): M {
    this.registerModule(name, module);
    this.items.set(name, module);
    return module;
  }

  get(name: string): M | undefined {
    return this.items.get(name);
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  get size(): number {
    return this.items.size;
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  values(): IterableIterator<M> {
    return this.items.values();
  }

  entries(): IterableIterator<[string, M]> {
    return this.items.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, M]> {
    return this.items.entries();
  }

  forward(): never {
    throw new ArgumentError(
      'ModuleDict',
      'a ModuleDict has no forward; use its entries in the forward of the module that owns it',
    );
  }
}
