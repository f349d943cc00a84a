/**
 * Backend-owned memory behind a tensor. Each backend subclasses it (plain arrays for `ref`,
 * nothing for `meta`, blocked oneDNN memory for `native`). Reference-counted so that reshapes can
 * share memory and `dispose()` frees it only when the last tensor lets go.
 */
import type { DType } from './dtype.js';

export abstract class Storage {
  private refs = 1;
  /** Bumped whenever the values change in place (an optimiser step), so derived caches can tell. */
  version = 0;
  abstract readonly backendName: string;
  abstract readonly dtype: DType;
  abstract readonly size: number;

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs === 0) this.free();
  }

  get released(): boolean {
    return this.refs <= 0;
  }

  /** Gives the memory back. Called once, when the last reference is released. */
  protected abstract free(): void;
}
