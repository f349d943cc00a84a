/**
 * Which forward algorithm an eligible conv runs (docs/native-backend.md#algorithm-choice). oneDNN's
 * Winograd kernels run 3x3 stride-1 convs with fewer multiplies, faster on some shapes and CPUs,
 * slower on others; so on first use each candidate is timed a few runs and the fastest kept, in
 * memory and in a JSON file per host. The file's key holds the CPU (model and flags), the oneDNN
 * version and the addon build: when any of them changes the old choices are dropped and measured
 * again (the thread count is part of each shape's key, conv-algorithm.ts). A measurement taken
 * while other work held the cores stays in memory only. A file that cannot be read, parsed or
 * written costs a measurement (and one line under CONVKIT_DEBUG=native), never an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * oneDNN's algorithms a conv plan may ask for; 'brgemm' is its direct algorithm on nhwc
 * activations, which it runs with its brgemm kernels (AVX-512 only); 'transposed' a training
 * forward run as the backward data of its transposed conv (conv-transposed.ts); 'own' convkit's
 * own 3x3 kernel (conv-own.ts: direct on AVX-512, Winograd F(2x2, 3x3) on AVX2, and there
 * F(2x2, 5x5) for 5x5 convs); 'own4' its Winograd F(4x4, 3x3) (forward and backward data on
 * every build with AVX2, backward weights on AVX2 builds).
 */
export type ConvAlgorithm = 'direct' | 'winograd' | 'auto' | 'brgemm' | 'transposed' | 'own' | 'own4';

/** What measured choices depend on: a change in any field invalidates them all. */
export interface HostIdentity {
  cpu: string;
  onednn: string;
  addon: string;
}

/** A short hash of the host identity (the default file name and the key checked on load). */
export function hostKey(id: HostIdentity): string {
  return createHash('sha256').update(JSON.stringify(id)).digest('hex').slice(0, 16);
}

/** The CPU in words: model name and ISA flags from /proc/cpuinfo where there is one. */
export function cpuIdentity(): string {
  const model = cpus()[0]?.model ?? 'unknown';
  let flags = '';
  try {
    flags = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux: the model name alone
  }
  return `${arch()} ${model} ${flags}`.trim();
}

/** ~/.cache/convkit/tuning-<host>.json ($XDG_CACHE_HOME respected). */
export function defaultCacheFile(host: string): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'convkit', `tuning-${host}.json`);
}

/** One shape's measurement: the algorithm kept and the best time of each candidate (ms). */
export interface TunedChoice {
  algorithm: ConvAlgorithm;
  ms: Partial<Record<ConvAlgorithm, number>>;
}

/** The file's format: 2 since measurements take MIN_TIMED_ROUNDS rounds (format 1's took one for slow shapes: measured again). */
export const TUNING_FILE_FORMAT = 2;
const ALGORITHMS: readonly string[] = ['direct', 'winograd', 'auto', 'brgemm', 'transposed', 'own', 'own4'];

function isChoice(v: unknown): v is TunedChoice {
  if (typeof v !== 'object' || v === null) return false;
  const { algorithm, ms } = v as Record<string, unknown>;
  return typeof algorithm === 'string' && ALGORITHMS.includes(algorithm) && typeof ms === 'object' && ms !== null;
}

/**
 * Measured choices per shape key, read from `file` on first use (null: memory only). Writes go to
 * a temporary file renamed over the old one, after merging what another process wrote meanwhile,
 * so concurrent writers never leave a torn file (the last rename wins, each with every entry it saw).
 */
export class TuningCache {
  private choices: Map<string, TunedChoice> | null = null;
  private readonly provisional = new Map<string, TunedChoice>();
  private warned = false;

  constructor(
    readonly file: string | null,
    readonly host: string,
    private readonly warn: (message: string) => void,
  ) {}

  get(shape: string): TunedChoice | undefined {
    this.choices ??= this.read();
    return this.choices.get(shape) ?? this.provisional.get(shape);
  }

  /** A choice measured while other work held the cores: this process uses it, no file keeps it (the next process measures again). */
  setProvisional(shape: string, choice: TunedChoice): void {
    this.provisional.set(shape, choice);
  }

  set(shape: string, choice: TunedChoice): void {
    this.choices ??= this.read();
    this.choices.set(shape, choice);
    if (this.file === null) return;
    const merged = new Map([...this.read(), ...this.choices]);
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const body = { format: TUNING_FILE_FORMAT, host: this.host, choices: Object.fromEntries(merged) };
      writeFileSync(temp, `${JSON.stringify(body, null, 1)}\n`);
      renameSync(temp, this.file);
    } catch (e) {
      try {
        rmSync(temp, { force: true });
      } catch {
        // no temporary file was made (its folder is missing or not a folder)
      }
      this.note(`cannot write ${this.file} (${e instanceof Error ? e.message : String(e)}): choices kept in memory`);
    }
  }

  /** The file's choices for this host; empty when it is missing, unreadable, corrupt or another host's. */
  private read(): Map<string, TunedChoice> {
    const out = new Map<string, TunedChoice>();
    if (this.file === null || !existsSync(this.file)) return out;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      this.note(`ignoring ${this.file} (${e instanceof Error ? e.message : String(e)}): measuring again`);
      return out;
    }
    const body = parsed as { format?: unknown; host?: unknown; choices?: unknown };
    if (
      typeof body !== 'object' ||
      body === null ||
      body.format !== TUNING_FILE_FORMAT ||
      typeof body.choices !== 'object'
    ) {
      this.note(`ignoring ${this.file} (not a format-${TUNING_FILE_FORMAT} tuning file): measuring again`);
      return out;
    }
    if (body.host !== this.host) return out; // another CPU, oneDNN or addon build: stale
    for (const [shape, choice] of Object.entries(body.choices ?? {})) if (isChoice(choice)) out.set(shape, choice);
    return out;
  }

  private note(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(message);
  }
}

/** A candidate for timing: `run` executes it once and waits for it to finish; `prepare`, untimed, comes before each run. */
export interface Candidate {
  algorithm: ConvAlgorithm;
  prepare?: () => void;
  run: () => void;
  /** How much faster than direct it must run to be kept (default DIRECT_MARGIN). */
  margin?: number;
}

/**
 * Another algorithm than direct is kept only when this much faster (not for noise): Winograd
 * changes the rounding, and brgemm's nhwc layouts cost conversions the timing may not see.
 */
export const DIRECT_MARGIN = 0.9;
/**
 * The margin of a candidate that rounds as a direct kernel does and keeps direct's layouts
 * (convkit's direct kernels: sameRoundingKernel): only the noise of a few runs. With
 * DIRECT_MARGIN, ResNet-50's 1x1 convs, 5-12 % faster on convkit's, were kept or not by chance:
 * 8 of 45 shapes differed across four fresh tuning caches on the Zen 5 host (docs/benchmarks.md).
 */
export const SAME_ROUNDING_MARGIN = 0.97;

/**
 * Whether a kernel, by the name its plan reports, is one of convkit's direct kernels: the 1x1
 * ones and the AVX-512 3x3 one (forward, backward data on turned weights, backward weights), in
 * direct's blocked layouts. convkit's Winograd kernels ('convkit:avx2_wino_*') are not.
 */
export const sameRoundingKernel = (impl: string): boolean => /^convkit:avx(512|2)_(1x1|3x3)$/.test(impl);
/** Time spent measuring one shape, beyond one warm-up and MIN_TIMED_ROUNDS timed runs of each candidate. */
export const TUNING_BUDGET_MS = 50;
/**
 * Timed rounds every measurement takes, whatever the budget: with one, a single slow run decided
 * a shape for good. On the Zen 5 host GoogLeNet's 64 -> 192 conv at batch 8 once measured
 * oneDNN's Winograd at 14.5 ms (7.3-9.5 in other processes) and kept a kernel 1.6x slower
 * (docs/benchmarks.md); the host's speed moves by 20-30 % from second to second.
 */
export const MIN_TIMED_ROUNDS = 3;
/**
 * After two timed rounds, only the candidates within this factor of the fastest run again: a
 * kernel 1.5x slower in both cannot win by the noise of a run, and VGG16's tuning pass at batch 8
 * took 15 s instead of 9 with every candidate timed three times. Not after one: a single run can
 * be 7x slow (oneDNN's Winograd once took 4.1 ms for ResNet-50's 64-channel 3x3 conv at batch 1,
 * 0.36-0.54 in every other measurement), and a candidate dropped then stays lost.
 */
export const CONTENDER_FACTOR = 1.5;

/**
 * Below this share of its threads' CPU time (process CPU time over wall time times threads) a
 * measurement ran while other work held the cores. Measured on a 2-core host: 0.85-1.07 alone
 * (0.53 for a 0.13 ms conv, where fixed costs dominate), 0.45-0.74 beside one or two busy processes,
 * which made every conv 3-30x slower and the choice noise.
 */
export const CONTENDED_CPU_SHARE = 0.7;

/** How measureFastest tells contention: the process's CPU time in ms and the kernels' thread count. */
export interface CpuMeter {
  cpuMs: () => number;
  threads: number;
}

/** The process's user + system CPU time in ms (all its threads). */
export const processCpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/**
 * Times the candidates (one warm-up each, then MIN_TIMED_ROUNDS rounds of one run each, more while
 * within the budget; from the third round only those within CONTENDER_FACTOR of the fastest) and
 * returns the fastest, preferring direct unless another beats it by its margin. With a
 * `meter`, also whether the runs were contended: their CPU share below CONTENDED_CPU_SHARE.
 */
export function measureFastest(
  candidates: readonly Candidate[],
  now: () => number = () => performance.now(),
  meter?: CpuMeter,
): TunedChoice & { cpuShare?: number; contended?: boolean } {
  // One candidate (a CPU or shape without a Winograd kernel: every AVX2 host) needs no timing.
  if (candidates.length < 2) return { algorithm: candidates[0]?.algorithm ?? 'direct', ms: {} };
  for (const c of candidates) {
    c.prepare?.();
    c.run();
  }
  const best = new Map<ConvAlgorithm, number>();
  let [wall, cpu] = [0, 0];
  const start = now();
  let timing = candidates;
  for (let round = 0; round < 5 && (round < MIN_TIMED_ROUNDS || now() - start < TUNING_BUDGET_MS); round++) {
    if (round === 2) {
      const fastest = Math.min(...best.values());
      timing = candidates.filter((c) => (best.get(c.algorithm) ?? 0) <= fastest * CONTENDER_FACTOR);
    }
    for (const c of timing) {
      c.prepare?.();
      const [t0, c0] = [now(), meter?.cpuMs() ?? 0];
      c.run();
      const ms = now() - t0;
      wall += ms;
      cpu += (meter?.cpuMs() ?? 0) - c0;
      best.set(c.algorithm, Math.min(best.get(c.algorithm) ?? Number.POSITIVE_INFINITY, ms));
    }
  }
  // The fastest of direct and the candidates that beat it by their margins.
  const direct = best.get('direct') ?? Number.POSITIVE_INFINITY;
  let algorithm: ConvAlgorithm = candidates[0]?.algorithm ?? 'direct';
  for (const c of candidates) {
    const ms = best.get(c.algorithm) ?? Number.POSITIVE_INFINITY;
    const beatsDirect = c.algorithm === 'direct' || ms < direct * (c.margin ?? DIRECT_MARGIN);
    if (beatsDirect && ms < (best.get(algorithm) ?? Number.POSITIVE_INFINITY)) algorithm = c.algorithm;
  }
  const choice = { algorithm, ms: Object.fromEntries(best) };
  if (meter === undefined || wall <= 0) return choice;
  const cpuShare = cpu / (wall * meter.threads);
  return { ...choice, cpuShare, contended: cpuShare < CONTENDED_CPU_SHARE };
}
