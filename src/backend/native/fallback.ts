/**
 * Running a reference kernel for the native backend: the queue is flushed, blocked inputs are
 * converted to plain views, and the reference kernel runs on them. With CONVKIT_DEBUG=native
 * every distinct fallback (kernel and reason) is printed once to stderr, so a user can see which
 * parts of a model do not run in oneDNN.
 */
import { setting } from '../../core/config.js';
import { Storage } from '../../core/storage.js';
import type { KernelName, Kernels, KernelSpecs } from '../backend.js';
import { RefStorage } from '../ref/storage.js';
import { NativeStorage, PLAIN, type NativeRuntime } from './runtime.js';

const counts = new Map<string, number>();

/** How often each `kernel: reason` fell back to the reference backend (for tests and profiles). */
export function nativeFallbacks(): ReadonlyMap<string, number> {
  return counts;
}

function note(kernel: string, reason: string): void {
  const key = `${kernel}: ${reason}`;
  const n = counts.get(key) ?? 0;
  counts.set(key, n + 1);
  if (n === 0 && setting('debug').has('native'))
    process.stderr.write(`[convkit native] ${kernel} runs the reference kernel (${reason})\n`);
}

type Convert = (s: Storage) => Storage;

function convertArgs(value: unknown, convert: Convert): unknown {
  if (value instanceof Storage) return convert(value);
  if (Array.isArray(value) && value.length > 0 && value.every((v) => v instanceof Storage)) return value.map(convert);
  return value;
}

/**
 * A row of "What runs natively" in docs/native-backend.md, written beside the kernels it describes
 * (each native kernel file's `*_RUNS`); scripts/gen-native-docs.ts writes the table from them.
 */
export interface NativeRun {
  /** The kernels the row is about; a kernel in no row is listed as running only the reference code. */
  readonly kernels: readonly KernelName[];
  /** What a reader calls them. */
  readonly name: string;
  /** The cases that run natively (oneDNN, or a queued loop in the addon). */
  readonly native: string;
  /** The cases that run the reference kernel (logged as fallbacks). */
  readonly fallback: string;
}

/** Kernels that change their storage arguments in place (optimiser steps). */
const IN_PLACE: ReadonlySet<KernelName> = new Set<KernelName>(['sgdStep', 'adamStep']);

/** Calls the reference kernel `name` with every native storage argument turned into a plain view. */
export function refFallback<K extends KernelName>(
  rt: NativeRuntime,
  ref: Kernels,
  name: K,
  reason: string,
  args: KernelSpecs[K]['args'],
): KernelSpecs[K]['out'] {
  note(name, reason);
  // Its values come from JavaScript now: a recording would replay them as they are (a dropout mask).
  if (rt.recorder) rt.recorder.impure ??= `${name} runs the reference kernel (${reason})`;
  const views = new Map<Storage, Storage>();
  const convert: Convert = (s) => {
    if (IN_PLACE.has(name) && s instanceof NativeStorage) {
      // Values change in place: a blocked storage's plain view would be a copy, and cached layouts go stale.
      if (s.desc !== PLAIN) throw new Error(`${name}: cannot update a blocked native storage in place`);
      s.invalidate();
    }
    let v = views.get(s);
    if (!v) {
      v = rt.refView(s);
      views.set(s, v);
    }
    return v;
  };
  const converted = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, convertArgs(v, convert)]));
  const kernel: Kernels[K] = ref[name];
  // Only views of native storages share pooled memory; reference storages passed through are the caller's.
  const wrappers = new Set<Storage>(
    [...views].filter(([source]) => source instanceof NativeStorage).map(([, view]) => view),
  );
  return detach(kernel(converted as KernelSpecs[K]['args']), wrappers);
}

/** A result that is one of the temporary views must not share memory with a pooled native buffer. */
function detach<T>(out: T, views: ReadonlySet<Storage>): T {
  const copy = (s: unknown): unknown => (s instanceof RefStorage && views.has(s) ? new RefStorage(s.data.slice()) : s);
  if (out instanceof Storage) return copy(out) as T;
  if (out !== null && typeof out === 'object')
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, copy(v)])) as T;
  return out;
}

/** Every kernel of `ref` as a logged fallback: the base the native kernels are laid over. */
export function fallbackKernels(rt: NativeRuntime, ref: Kernels): Kernels {
  const fb =
    <K extends KernelName>(name: K) =>
    (args: KernelSpecs[K]['args']): KernelSpecs[K]['out'] =>
      refFallback(rt, ref, name, 'no native kernel', args);
  // Built from the reference backend's kernels, so a new kernel needs no entry here.
  return Object.fromEntries((Object.keys(ref) as KernelName[]).map((name) => [name, fb(name)])) as unknown as Kernels;
}
