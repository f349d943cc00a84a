/**
 * The timing policy every column of `npm run bench` shares (the PyTorch peer receives it too):
 * warm-up runs, then timed runs until both minRuns and the time budget are reached (or maxRuns);
 * the median is reported, so one slow run on a shared machine does not move the figure.
 */
export interface Policy {
  warmupRuns: number;
  minRuns: number;
  maxRuns: number;
  budgetMs: number;
}

export const FULL_POLICY: Policy = { warmupRuns: 1, minRuns: 3, maxRuns: 10, budgetMs: 6000 };
export const QUICK_POLICY: Policy = { warmupRuns: 1, minRuns: 2, maxRuns: 3, budgetMs: 1000 };

/** Median of the timed runs in ms. `run` may be async (the ORT session, a queued backend). */
export async function medianMs(run: () => void | Promise<void>, policy: Policy): Promise<number> {
  for (let i = 0; i < policy.warmupRuns; i++) await run();
  const times: number[] = [];
  const budgetEnd = performance.now() + policy.budgetMs;
  while (times.length < policy.minRuns || (times.length < policy.maxRuns && performance.now() < budgetEnd)) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  // The same index as the PyTorch peer's times[len // 2] (upper middle for an even count).
  return times[Math.floor(times.length / 2)];
}
