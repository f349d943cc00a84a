/**
 * Which maps of an inference pass to keep in nhwc (NativeRuntime.nhwcUpTo), from the convs' own
 * tuned times (docs/native-backend.md#activation-layout). oneDNN's brgemm convs (nhwc) beat its
 * JIT kernels (nChw16c) on small maps at small batches, while Winograd (nChw16c) wins on large
 * ones: so the pass switches once, from blocked to nhwc, at some map size.
 */

/** One tuned forward conv: its output's pixels per map and the time of the algorithm chosen (ms). */
export interface ConvTiming {
  mapArea: number;
  ms: number;
}

/**
 * The map sizes (pixels) worth recording a pass with: keeping the maps up to that size in nhwc
 * (and the larger ones blocked) saved conv time by the pass's convs' tuned times (`blocked` and
 * `nhwc`, summed from the smallest maps up), most saving first, at most `limit`. The tuned times
 * come from the tuning cache, maybe measured at other times on a host whose speed moves, so they
 * only propose: recordInference times the passes. A size timed in one layout only ends the sums.
 */
export function nhwcCandidates(blocked: readonly ConvTiming[], nhwc: readonly ConvTiming[], limit = 3): number[] {
  const total = (timings: readonly ConvTiming[]): Map<number, number> => {
    const sums = new Map<number, number>();
    for (const t of timings) sums.set(t.mapArea, (sums.get(t.mapArea) ?? 0) + t.ms);
    return sums;
  };
  const [inBlocked, inNhwc] = [total(blocked), total(nhwc)];
  const savings: [number, number][] = [];
  let saving = 0;
  for (const area of [...new Set([...inBlocked.keys(), ...inNhwc.keys()])].sort((a, b) => a - b)) {
    const [b, n] = [inBlocked.get(area), inNhwc.get(area)];
    if (b === undefined || n === undefined) break;
    saving += b - n;
    if (saving > 0) savings.push([area, saving]);
  }
  return savings
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([area]) => area);
}
