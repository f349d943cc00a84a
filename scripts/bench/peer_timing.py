"""The timing policy every PyTorch peer script shares with the TypeScript benches."""
import time


def median_ms(run, policy):
    """Warm-up, then at least minRuns and at most maxRuns timed runs, stopping after minRuns once
    budgetMs has passed; the median in ms (the same policy as the convkit side)."""
    for _ in range(policy["warmupRuns"]):
        run()
    times = []
    budget_end = time.perf_counter() + policy["budgetMs"] / 1e3
    while len(times) < policy["minRuns"] or (len(times) < policy["maxRuns"] and time.perf_counter() < budget_end):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]
