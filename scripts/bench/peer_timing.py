"""The timing policy every PyTorch peer script shares with the TypeScript benches (timing.ts)."""
import time


def timed_runs(run, policy, warm_up=True):
    """One round: the warm-up runs (when warm_up), then at least minRuns and at most maxRuns timed
    runs, stopping after minRuns once budgetMs has passed; each run's time in ms."""
    if warm_up:
        for _ in range(policy["warmupRuns"]):
            run()
    times = []
    budget_end = time.perf_counter() + policy["budgetMs"] / 1e3
    while len(times) < policy["minRuns"] or (len(times) < policy["maxRuns"] and time.perf_counter() < budget_end):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def median_ms(run, policy):
    """The median of one round (the upper middle for an even count, as timing.ts)."""
    times = sorted(timed_runs(run, policy))
    return times[len(times) // 2]
