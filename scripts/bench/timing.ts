/**
 * How `npm run bench` times its columns. On a shared machine the speed moves by tens of percent
 * over minutes, so the sides of a comparison are interleaved: in each round every contender
 * (convkit, ONNX Runtime, PyTorch) times every workload in turn, a few runs each, and the figure
 * is the median of a contender's runs over all rounds. A slow spell then falls on all sides alike
 * instead of on whichever column happened to run during it.
 */
export interface Policy {
  /** Untimed runs before a contender's first round on a workload. */
  warmupRuns: number;
  /** Per round: at least minRuns timed runs, more (up to maxRuns) while the round's budget lasts. */
  minRuns: number;
  maxRuns: number;
  budgetMs: number;
  rounds: number;
  /**
   * Short workloads: past maxRuns, more runs (up to shortRunsCap) while the round's timed runs add
   * up to less than minTimedMs, within the budget. Three 10 ms batch-1 passes per round were too
   * few: a row moved by up to 0.2x between runs on the Zen 5 host.
   */
  minTimedMs: number;
  shortRunsCap: number;
}

export const FULL_POLICY: Policy = {
  warmupRuns: 1,
  minRuns: 1,
  maxRuns: 3,
  budgetMs: 2000,
  rounds: 3,
  minTimedMs: 250,
  shortRunsCap: 30,
};
export const QUICK_POLICY: Policy = {
  warmupRuns: 2,
  minRuns: 1,
  maxRuns: 1,
  budgetMs: 0,
  rounds: 2,
  minTimedMs: 0,
  shortRunsCap: 1,
};

/** Whether a round that has `runs` timed runs adding up to `spentMs` takes another (timing.ts and peer_timing.py alike). */
export function anotherRun(policy: Policy, runs: number, spentMs: number, withinBudget: boolean): boolean {
  if (runs < policy.minRuns) return true;
  if (!withinBudget) return false;
  return runs < policy.maxRuns || (spentMs < policy.minTimedMs && runs < policy.shortRunsCap);
}

/** One round's timed runs in ms (after the warm-up runs when `warmUp`). `run` may be async. */
export async function timedRuns(run: () => void | Promise<void>, policy: Policy, warmUp: boolean): Promise<number[]> {
  if (warmUp) for (let i = 0; i < policy.warmupRuns; i++) await run();
  const times: number[] = [];
  const budgetEnd = performance.now() + policy.budgetMs;
  let spent = 0;
  while (anotherRun(policy, times.length, spent, performance.now() < budgetEnd)) {
    const t0 = performance.now();
    await run();
    const ms = performance.now() - t0;
    times.push(ms);
    spent += ms;
  }
  return times;
}

/** The upper middle for an even count, as the PyTorch peer's times[len // 2]. */
export function median(times: readonly number[]): number {
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

/** One side of a comparison: times one round of workload `index`; `close` frees what it holds. */
export interface Contender {
  label: string;
  round(index: number, warmUp: boolean): Promise<number[]>;
  close(): void | Promise<void>;
}

/** A figure per contender and workload (null where the contender failed), and the failures. */
export interface Interleaved {
  ms: (number | null)[][];
  errors: { label: string; message: string }[];
}

/**
 * A pause after each contender's turn, so that its idle threads stop spinning before the next
 * contender is timed: libgomp's threads (convkit's worker, PyTorch) spin about 7 ms after their
 * last parallel region on the Emerald Rapids host before they sleep, taking a core from whatever
 * runs then. The PyTorch peer's OpenBLAS workers spin far longer; its turn ends only once its
 * process is idle (TorchPeer.quiet in peers.ts).
 */
const SETTLE_MS = 20;
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/**
 * Runs `workloads` workloads on every contender in `policy.rounds` interleaved rounds; a
 * contender that throws is dropped (its cells stay null) and the others go on. `progress` gets a
 * line per contender and workload at the end.
 */
export async function interleaved(
  contenders: readonly Contender[],
  workloads: number,
  policy: Policy,
  progress: (line: string) => void,
): Promise<Interleaved> {
  const times = contenders.map(() => Array.from({ length: workloads }, (): number[] => []));
  const errors: Interleaved['errors'] = [];
  const failed = new Set<number>();
  for (let round = 0; round < policy.rounds; round++) {
    for (let w = 0; w < workloads; w++) {
      for (let k = 0; k < contenders.length; k++) {
        // Each round another contender goes first. The first runs right after another workload
        // (a batch of 8, or another model) and is slowed by it: GoogLeNet at batch 1 right after
        // ONNX Runtime's batch of 8 ran 3-5 % slower than right after its batch of 1 on the Zen 5
        // host (convkit / ORT 0.91-0.92x first, 0.95-1.01x second; docs/benchmarks.md).
        const c = (k + round) % contenders.length;
        const contender = contenders[c];
        if (failed.has(c)) continue;
        try {
          times[c][w].push(...(await contender.round(w, round === 0)));
          await settle();
        } catch (err) {
          failed.add(c);
          errors.push({ label: contender.label, message: (err as Error).message.split('\n')[0] });
        }
      }
    }
  }
  for (const contender of contenders) await contender.close();
  const ms = times.map((perWorkload, c) =>
    perWorkload.map((t) => (failed.has(c) || t.length === 0 ? null : median(t))),
  );
  contenders.forEach((contender, c) => {
    const figures = ms[c].map((m) => (m === null ? 'failed' : `${m.toFixed(1)} ms`)).join(', ');
    const why = errors.find((e) => e.label === contender.label);
    progress(`${contender.label}: ${figures} (${why ? why.message : `median of ${times[c][0].length} runs`})`);
  });
  return { ms, errors };
}
