/**
 * Rows of `npm run bench` and their formatters: markdown tables per section and a JSON report.
 * Every target is a throughput target, so a miss is said the same way everywhere: "missed by X%"
 * (X = 1 - achieved / required) and the speed-up convkit still needs.
 */

export type Section = 'inference' | 'latency' | 'training' | 'kernel';

export const SECTION_TITLES: Record<Section, string> = {
  inference:
    'Inference throughput (eval mode, no graph), 224x224 - target: convkit img/s >= 1.1x ONNX Runtime at batch 8',
  latency: 'Batch-1 latency, 224x224 - target: convkit ms <= ONNX Runtime',
  training:
    'Training step (forward, cross-entropy, backward, SGD momentum 0.9) - target: convkit >= 1.5x PyTorch at its fastest',
  kernel:
    "VGG16's 13 3x3 convolutions (forward, batch 8, separate conv2d calls on pre-made inputs) - target: >= 80% of the FMA peak",
};

/** What a row must reach: a ratio to a peer's throughput, or a fraction of the FMA peak. */
export type Target = { vs: 'ort' | 'torch'; ratio: number } | { vs: 'peak'; fraction: number };

export interface Row {
  section: Section;
  model: string;
  batch: number;
  /** Input side (224 or 32). */
  size: number;
  /** Floating-point work of one batch on the convkit side: 2 x MACs (x3 for a training step). */
  gflop: number;
  convkitMs: number | null;
  ortMs: number | null;
  torchMs: number | null;
  /** The PyTorch configuration that gave torchMs, its fastest (see `fastest`). */
  torchConfig: string | null;
  target: Target | null;
}

export interface Verdict {
  met: boolean;
  /** What convkit reached and what the target asks, in the same unit (ratio or fraction of peak). */
  achieved: number;
  required: number;
  text: string;
}

/**
 * The peer at its best: per workload, the fastest of one peer's configurations (`figures[c][w]`:
 * configuration c on workload w, null where it failed) and which configuration that was.
 */
export function fastest(
  figures: readonly (readonly (number | null)[])[],
  configs: readonly string[],
): { ms: number | null; config: string | null }[] {
  const workloads = figures[0]?.length ?? 0;
  return Array.from({ length: workloads }, (_, w) => {
    let best: { ms: number | null; config: string | null } = { ms: null, config: null };
    figures.forEach((perWorkload, c) => {
      const ms = perWorkload[w];
      if (ms !== null && (best.ms === null || ms < best.ms)) best = { ms, config: configs[c] };
    });
    return best;
  });
}

const per = (ms: number | null, batch: number): number | null => (ms === null ? null : (batch * 1000) / ms);
const ratio = (peerMs: number | null, ms: number | null): number | null =>
  peerMs === null || ms === null ? null : peerMs / ms;

export function gflops(row: Row): number | null {
  return row.convkitMs === null ? null : row.gflop / (row.convkitMs / 1000);
}

export function verdict(row: Row, peakGflops: number | null): Verdict | null {
  const t = row.target;
  if (t === null) return null;
  const g = gflops(row);
  const achieved =
    t.vs === 'peak'
      ? g === null || peakGflops === null
        ? null
        : g / peakGflops
      : ratio(t.vs === 'ort' ? row.ortMs : row.torchMs, row.convkitMs);
  const required = t.vs === 'peak' ? t.fraction : t.ratio;
  if (achieved === null) return null;
  const met = achieved >= required;
  const text = met
    ? `met (+${((achieved / required - 1) * 100).toFixed(0)}%)`
    : `missed by ${((1 - achieved / required) * 100).toFixed(0)}% (needs ${(required / achieved).toFixed(2)}x)`;
  return { met, achieved, required, text };
}

const num = (v: number | null, digits = 1): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const times = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}x`);

const HEADER = [
  'model',
  'batch',
  'convkit img/s',
  'ORT img/s',
  'PyTorch img/s',
  'convkit ms/batch',
  'convkit GFLOP/s',
  '% of FMA peak',
  'vs ORT',
  'vs PyTorch',
  'PyTorch as',
  'target',
];

export function tableRow(row: Row, peakGflops: number | null): string[] {
  const g = gflops(row);
  const label = row.size === 224 ? row.model : `${row.model} (${row.size}x${row.size})`;
  return [
    label,
    String(row.batch),
    num(per(row.convkitMs, row.batch)),
    num(per(row.ortMs, row.batch)),
    num(per(row.torchMs, row.batch)),
    num(row.convkitMs),
    num(g),
    g === null || peakGflops === null ? '-' : `${((100 * g) / peakGflops).toFixed(0)}%`,
    times(ratio(row.ortMs, row.convkitMs)),
    times(ratio(row.torchMs, row.convkitMs)),
    row.torchConfig ?? '-',
    verdict(row, peakGflops)?.text ?? '-',
  ];
}

/** Aligned markdown tables, one per section that has rows. */
export function markdownTables(rows: readonly Row[], peakGflops: number | null): string {
  const out: string[] = [];
  for (const section of Object.keys(SECTION_TITLES) as Section[]) {
    const cells = rows.filter((r) => r.section === section).map((r) => tableRow(r, peakGflops));
    if (cells.length === 0) continue;
    const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const left = (i: number): boolean => i === 0 || i >= HEADER.length - 2; // text columns
    const line = (c: string[]): string =>
      `| ${c.map((v, i) => (left(i) ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
    out.push(`${SECTION_TITLES[section]}\n`);
    out.push(line(HEADER));
    out.push(`|${widths.map((w, i) => (left(i) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
    out.push(...cells.map(line), '');
  }
  return out.join('\n');
}

/** Rows with their derived figures, for `--json`. */
export function jsonRows(rows: readonly Row[], peakGflops: number | null): object[] {
  return rows.map((r) => {
    const g = gflops(r);
    return {
      ...r,
      convkitImagesPerS: per(r.convkitMs, r.batch),
      ortImagesPerS: per(r.ortMs, r.batch),
      torchImagesPerS: per(r.torchMs, r.batch),
      convkitGflops: g,
      fractionOfPeak: g === null || peakGflops === null ? null : g / peakGflops,
      vsOrt: ratio(r.ortMs, r.convkitMs),
      vsTorch: ratio(r.torchMs, r.convkitMs),
      verdict: verdict(r, peakGflops),
    };
  });
}
