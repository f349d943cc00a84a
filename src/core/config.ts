/**
 * convkit's environment variables, read in one place. Nothing is read while modules load: each
 * variable is parsed the first time something needs it (the registry when a backend is first
 * asked for, the native runtime when it starts), checked, and remembered. A bad value throws a
 * ConfigError naming the variable, the accepted values and what came, e.g.
 * `CONVKIT_THREADS: expected an integer from 1 to 4096, got 'lots'`; a failed read is not
 * remembered, so fixing process.env and calling again works. docs/native-backend.md has the table.
 */
import { ArgumentError } from './errors.js';

/** A CONVKIT_* environment variable with a value outside what it accepts. */
export class ConfigError extends ArgumentError {
  constructor(variable: string, detail: string) {
    super(variable, detail, ''); // never a layer path: it is about the process, not a module
  }
}

export type BackendChoice = 'ref' | 'native' | 'meta';
export type DebugTopic = 'native';

/** Every variable's parsed value. */
export interface Settings {
  /** CONVKIT_BACKEND: the default backend; null = native when its addon loads, else ref. */
  backend: BackendChoice | null;
  /** CONVKIT_THREADS: native threads; null = all cores (oneDNN's OpenMP default). */
  threads: number | null;
  /** CONVKIT_NATIVE_POOL_MB: cap of the native buffer pool in MiB (0: keep no released buffers). */
  nativePoolMb: number;
  /** CONVKIT_NATIVE_PLAN_CACHE: native plans kept (least recently used evicted beyond it). */
  nativePlanCache: number;
  /** CONVKIT_SPIN_THROTTLE: OpenMP's spin cut short while JavaScript builds a cold pass (1, the default) or never (0). */
  spinThrottle: boolean;
  /** CONVKIT_DEBUG: topics that print diagnostics on stderr. */
  debug: ReadonlySet<DebugTopic>;
  /** CONVKIT_FUSE: inference and training fusion on (1, the default) or off (0). */
  fuse: boolean;
  /** CONVKIT_CONV_LAYOUT: 'auto' (nChw16c on AVX-512 where channels fill blocks) or 'any' (oneDNN picks). */
  convLayout: 'auto' | 'any';
  /** CONVKIT_CONV_ALGORITHM: the algorithm of conv kernels with candidates and of linear forwards of 1 to 16 rows: measured per shape ('tune', the default) or fixed. */
  convAlgorithm: ConvAlgorithmChoice;
  /** CONVKIT_TUNING_CACHE: the file of measured choices; null = the per-host default under ~/.cache/convkit. */
  tuningCache: string | null;
  /** CONVKIT_NATIVE_ADDON: the addon file to load; null = native/build/Release/convkit_native.node (scripts/check-avx2.sh points it at an AVX2 build). */
  nativeAddon: string | null;
}

/**
 * 'tune' times the candidates per shape (convs: direct, Winograd, brgemm, transposed, own; linear
 * layers of 1 to 16 rows: oneDNN's inner product and the own loop) and keeps the fastest; the
 * others are used as they are where a call can take them, else direct.
 */
export type ConvAlgorithmChoice = 'tune' | 'direct' | 'winograd' | 'auto' | 'brgemm' | 'transposed' | 'own' | 'own4';

export const MAX_THREADS = 4096;
// Sized for the largest training step of the zoo's benches: DenseNet-BC-100 at batch 64 reuses
// 2.8 GiB of buffers and 801 plans a step. Under 2 GiB and 512 it evicted them and made them
// again every step (oneDNN's JIT, fresh pages): 1.26-1.45 s a step against 0.82-1.09 s.
export const DEFAULT_POOL_MB = 4096;
export const DEFAULT_PLAN_CACHE = 1024;

interface Variable<T> {
  readonly name: string;
  /** What is accepted, for the error message and the docs. */
  readonly accepts: string;
  readonly fallback: T;
  /** The parsed value, or undefined when `raw` is not accepted. */
  parse(raw: string): T | undefined;
}

function oneOf<T extends string>(values: readonly T[]): (raw: string) => T | undefined {
  return (raw) => ((values as readonly string[]).includes(raw) ? (raw as T) : undefined);
}

function integerIn(min: number, max: number): (raw: string) => number | undefined {
  return (raw) => {
    if (!/^\s*\d+\s*$/.test(raw)) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  };
}

const VARIABLES: { readonly [K in keyof Settings]: Variable<Settings[K]> } = {
  backend: {
    name: 'CONVKIT_BACKEND',
    accepts: "one of 'ref', 'native', 'meta'",
    fallback: null,
    parse: oneOf<BackendChoice>(['ref', 'native', 'meta']),
  },
  threads: {
    name: 'CONVKIT_THREADS',
    accepts: `an integer from 1 to ${MAX_THREADS}`,
    fallback: null,
    parse: integerIn(1, MAX_THREADS),
  },
  nativePoolMb: {
    name: 'CONVKIT_NATIVE_POOL_MB',
    accepts: 'a number of MiB, 0 or more (a plain number: 512 or 0.5, no unit)',
    fallback: DEFAULT_POOL_MB,
    parse: (raw) => {
      if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(raw)) return undefined;
      const n = Number(raw);
      return Number.isFinite(n) && n <= 2 ** 40 ? n : undefined;
    },
  },
  nativePlanCache: {
    name: 'CONVKIT_NATIVE_PLAN_CACHE',
    accepts: 'an integer from 1 to 1000000 (native plans kept)',
    fallback: DEFAULT_PLAN_CACHE,
    parse: integerIn(1, 1_000_000),
  },
  debug: {
    name: 'CONVKIT_DEBUG',
    accepts: "a comma-separated list of 'native', 'all'",
    fallback: new Set(),
    parse: (raw) => {
      const topics = new Set<DebugTopic>();
      for (const part of raw.split(',').map((s) => s.trim())) {
        if (part === '') continue;
        if (part !== 'native' && part !== 'all') return undefined;
        topics.add('native');
      }
      return topics;
    },
  },
  spinThrottle: {
    name: 'CONVKIT_SPIN_THROTTLE',
    accepts: "'1' (cut short while a cold pass is built) or '0' (never)",
    fallback: true,
    parse: (raw) => (raw === '1' ? true : raw === '0' ? false : undefined),
  },
  fuse: {
    name: 'CONVKIT_FUSE',
    accepts: "'1' (fusion on) or '0' (off)",
    fallback: true,
    parse: (raw) => (raw === '1' ? true : raw === '0' ? false : undefined),
  },
  convLayout: {
    name: 'CONVKIT_CONV_LAYOUT',
    accepts: "'auto' or 'any'",
    fallback: 'auto',
    parse: oneOf<'auto' | 'any'>(['auto', 'any']),
  },
  convAlgorithm: {
    name: 'CONVKIT_CONV_ALGORITHM',
    accepts: "one of 'direct', 'tune', 'winograd', 'auto', 'brgemm', 'transposed', 'own', 'own4'",
    // 'tune' by default: Winograd ran ResNet/VGG 3x3 layers up to 2x faster on an AVX-512 host, and
    // runs only where measured faster on this one; its rounding (1-10x direct's, measured in
    // docs/native-backend.md#algorithm-choice) is the price, 'direct' the way out.
    fallback: 'tune',
    parse: oneOf<ConvAlgorithmChoice>(['tune', 'direct', 'winograd', 'auto', 'brgemm', 'transposed', 'own', 'own4']),
  },
  tuningCache: {
    name: 'CONVKIT_TUNING_CACHE',
    accepts: "a file path, or 'off' (measure in every process, write nothing)",
    fallback: null,
    parse: (raw) => raw,
  },
  nativeAddon: {
    name: 'CONVKIT_NATIVE_ADDON',
    accepts: 'the path of a built convkit_native.node',
    fallback: null,
    parse: (raw) => raw,
  },
};

const cache = new Map<keyof Settings, unknown>();

/** The value of one variable (its default when unset or empty); throws a ConfigError when it is bad. */
export function setting<K extends keyof Settings>(key: K): Settings[K] {
  if (cache.has(key)) return cache.get(key) as Settings[K];
  const v: Variable<Settings[K]> = VARIABLES[key];
  const raw = process.env[v.name];
  let value: Settings[K];
  if (raw === undefined || raw.trim() === '') {
    value = v.fallback;
  } else {
    const parsed = v.parse(raw.trim());
    if (parsed === undefined) throw new ConfigError(v.name, `expected ${v.accepts}, got '${raw}'`);
    value = parsed;
  }
  cache.set(key, value);
  return value;
}

/** Runs fn with one variable's value set to `value`, as if the environment said so; restored after. */
export function withSetting<K extends keyof Settings, T>(key: K, value: Settings[K], fn: () => T): T {
  const had = cache.has(key);
  const before = cache.get(key);
  cache.set(key, value);
  try {
    return fn();
  } finally {
    if (had) cache.set(key, before);
    else cache.delete(key);
  }
}

/** Every variable, checked (the first bad one throws). */
export function settings(): Settings {
  const out: Partial<Record<keyof Settings, unknown>> = {};
  for (const key of Object.keys(VARIABLES) as (keyof Settings)[]) out[key] = setting(key);
  return out as Settings;
}

/** Name and accepted values of every variable (for docs and `--help` text). */
export function settingDocs(): { name: string; accepts: string }[] {
  return Object.values(VARIABLES).map(({ name, accepts }) => ({ name, accepts }));
}

/** Forgets what was read, so the next read sees process.env again (tests). */
export function resetSettings(): void {
  cache.clear();
}
