"""What every PyTorch peer script shares: the timing policy of the TypeScript benches (timing.ts)
and which BLAS the process loaded."""
import time


def another_run(policy, runs, spent_ms, within_budget):
    """Whether a round takes another timed run: timing.ts's anotherRun, the same rule."""
    if runs < policy["minRuns"]:
        return True
    if not within_budget:
        return False
    short = spent_ms < policy.get("minTimedMs", 0) and runs < policy.get("shortRunsCap", 0)
    return runs < policy["maxRuns"] or short


def timed_runs(run, policy, warm_up=True):
    """One round: the warm-up runs (when warm_up), then at least minRuns timed runs, up to maxRuns
    (or, for short runs adding up to less than minTimedMs, up to shortRunsCap) until budgetMs has
    passed; each run's time in ms."""
    if warm_up:
        for _ in range(policy["warmupRuns"]):
            run()
    times = []
    budget_end = time.perf_counter() + policy["budgetMs"] / 1e3
    while another_run(policy, len(times), sum(times), time.perf_counter() < budget_end):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def median_ms(run, policy):
    """The median of one round (the upper middle for an even count, as timing.ts)."""
    times = sorted(timed_runs(run, policy))
    return times[len(times) // 2]


def blas_library():
    """The BLAS shared object this process loaded: Debian's alternatives decide, unless the bench
    put OpenBLAS first on the peer's LD_LIBRARY_PATH (scripts/bench/peers.ts)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {fields[-1] for fields in map(str.split, maps) if len(fields) == 6 and "blas" in fields[-1].rsplit("/", 1)[-1]}
        # The folder tells the implementation apart: blas/ is netlib's reference, openblas-*/ OpenBLAS.
        return ", ".join(sorted("/".join(p.rsplit("/", 2)[-2:]) for p in paths)) or "none loaded"
    except OSError:
        return "unknown"
