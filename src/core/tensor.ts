/**
 * The n-dimensional array of convkit. A tensor is a shape, a dtype, a backend and a handle to
 * backend-owned storage (always contiguous, row-major as far as the user can tell), plus autograd
 * state. Operations on tensors live in src/ops as functions (`add(a, b)`, `conv2d(x, w)`).
 */
import type { Backend } from '../backend/backend.js';
import { backward as runBackward, recordSaved, type GradNode } from './autograd.js';
import type { DType, FloatArray } from './dtype.js';
import { ArgumentError, BackendError, ShapeError } from './errors.js';
import { formatShape, sizeOf, stridesOf, type Shape } from './shape.js';
import { disposed as notifyDisposed, track } from './scope.js';
import type { Storage } from './storage.js';

export type NestedArray = number | NestedArray[];

export class Tensor {
  readonly isTensor = true;
  readonly shape: Shape;
  readonly backend: Backend;
  /** True when backward() should compute a gradient for this tensor. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after backward(). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, for backward(); null for leaves. */
  gradFn: GradNode | null = null;
  private handle: Storage | null;
  /** Added to the storage's version so that assign() (a new storage) still counts up. */
  private versionBase = 0;

  constructor(storage: Storage, shape: Shape, backend: Backend) {
    if (storage.size !== sizeOf(shape)) {
      throw new ShapeError(
        'tensor',
        `storage holds ${storage.size} elements, shape ${formatShape(shape)} needs ${sizeOf(shape)}`,
      );
    }
    this.handle = storage;
    this.shape = Object.freeze([...shape]);
    this.backend = backend;
    track(this);
  }

  get storage(): Storage {
    if (this.handle === null) {
      const made = this.gradFn ? ` (made by ${this.gradFn.op})` : '';
      throw new BackendError('tensor', `a tensor of shape ${formatShape(this.shape)}${made} was used after dispose()`);
    }
    return this.handle;
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** Row-major strides; convkit tensors are contiguous (views copy). */
  get strides(): number[] {
    return stridesOf(this.shape);
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get disposed(): boolean {
    return this.handle === null;
  }
  /**
   * Counts in-place changes of the values (torch's `_version`): optimiser steps bump the storage's
   * version (seen by every tensor sharing it), assign() bumps this tensor's. Backward compares the
   * versions of the tensors an op saved with the ones they had when the op ran.
   */
  get version(): number {
    return this.versionBase + this.storage.version;
  }

  /** Plain row-major copy of the values. */
  toArray(): FloatArray {
    return this.backend.read(this.storage, this.shape);
  }

  /** Values as nested JavaScript arrays (a number for a scalar). */
  toNested(): NestedArray {
    const flat = this.toArray();
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === this.shape.length) return flat[offset];
      const step = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * step));
    };
    return build(0, 0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new ShapeError(
        'item',
        `only one-element tensors have an item, this one has shape ${formatShape(this.shape)}`,
      );
    return this.toArray()[0];
  }

  /** Computes gradients of this tensor with respect to every leaf that requires them. */
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    runBackward(this, gradient, options.retainGraph ?? false);
  }

  /** Sets requiresGrad in place and returns this (torch's requires_grad_). */
  requireGrad(flag = true): this {
    if (!this.isLeaf && !flag)
      throw new BackendError('requireGrad', 'only leaf tensors can stop requiring grad; use detach()');
    this.requiresGrad = flag;
    return this;
  }

  /** A tensor sharing this one's storage, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(this.storage.retain(), this.shape, this.backend);
  }

  /**
   * torch.Tensor.view: the same storage under a new shape of the same size (one size may be -1),
   * recorded for autograd as a reshape. The same as `reshape(x, shape)`: tensors are contiguous.
   */
  view(shape: readonly number[]): Tensor {
    return reshapeView(this, shape, 'view');
  }

  /**
   * The same storage under `shape` (same size, not checked), outside autograd and tracing: how
   * ops build their results. Use view() or reshape() in models.
   */
  alias(shape: Shape): Tensor {
    return new Tensor(this.storage.retain(), shape, this.backend);
  }

  /** Makes this tensor refer to src's values (same shape, dtype and backend), keeping its identity. */
  assign(src: Tensor): this {
    if (src.backend !== this.backend || src.dtype !== this.dtype || src.size !== this.size) {
      throw new ShapeError(
        'assign',
        `expected a ${this.dtype} tensor of shape ${formatShape(this.shape)} on '${this.backend.name}', got ${src.dtype} ${formatShape(src.shape)} on '${src.backend.name}'`,
      );
    }
    const next = src.storage.retain();
    const after = this.version + 1;
    this.storage.release();
    this.handle = next;
    this.versionBase = after - next.version;
    return this;
  }

  /**
   * Frees the storage once no other tensor shares it. Safe to call twice. The tensor stays in the
   * autograd graph (its gradFn is kept), so gradients still flow through it; an op that saved it
   * for its backward fails with an error that names the op.
   */
  dispose(): void {
    if (this.handle === null) return;
    this.handle.release();
    this.handle = null;
    this.grad?.dispose();
    this.grad = null;
    notifyDisposed(this);
  }

  toString(): string {
    const values = this.backend.hasData && this.size <= 64 ? ` ${JSON.stringify(this.toNested())}` : '';
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, ${this.backend.name}${this.requiresGrad ? ', requiresGrad' : ''})${values}`;
  }
}

/** `a number (3)`, `an array`, `undefined`: what came where a Tensor was expected, for messages. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array (length ${v.length})`;
  switch (typeof v) {
    case 'number':
      return `a number (${v})`;
    case 'string':
      return `a string (${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v)})`;
    case 'boolean':
    case 'bigint':
    case 'symbol':
      return `a ${typeof v}`;
    case 'function':
      return 'a function';
  }
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/**
 * The check at the entry of every op (through `common()` in src/ops/util.ts): values that come
 * from untyped code (numbers, arrays, undefined) get an ArgumentError naming the op and what came,
 * instead of a TypeError from deep inside a kernel.
 */
export function expectTensor(op: string, value: unknown, what = 'input'): asserts value is Tensor {
  if ((value as { isTensor?: unknown } | null | undefined)?.isTensor === true) return;
  throw new ArgumentError(op, `expected a Tensor as ${what}, got ${describeValue(value)}`);
}

/** x's storage under `shape` (at most one -1), recorded as a reshape; errors name `op`. */
export function reshapeView(x: Tensor, shape: readonly number[], op: string): Tensor {
  expectTensor(op, x);
  const unknown = shape.filter((d) => d === -1).length;
  const known = sizeOf(shape.filter((d) => d !== -1));
  if (unknown > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new ShapeError(op, `shape ${formatShape(shape)} is invalid: use non-negative sizes and at most one -1`);
  }
  const resolved = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(op, `cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(shape)}`);
  }
  return recordSaved([], x.alias(resolved), 'reshape', [x], (gy) => [gy.alias(x.shape)]);
}
