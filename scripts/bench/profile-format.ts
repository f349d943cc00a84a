/**
 * The tables of `npm run bench -- --profile MODEL`: the slowest layers, each with the fused group
 * it ran in (as nn.fusedGroups reports them) and, for convs, the algorithm and oneDNN kernel that
 * ran (CONVKIT_CONV_ALGORITHM, docs/native-backend.md#algorithm-choice); the time per op kind; and
 * the `Fusion:` line that `convkit summary` prints; GFLOP/s also as a share of the machine's FMA
 * peak when it was measured. Pure formatting, so a unit test checks it without timing anything.
 */
import type { RecordedInference } from '../../src/nn/record.js';
import { fusionLine } from '../../src/cli/format/summary.js';
import type { FusedGroup } from '../../src/nn/fuse.js';
import type { LayerTime } from './convkit-runner.js';

/** What a profile measured: the op times per layer and what the fusion pass fused in that model. */
export interface Profile {
  model: string;
  batch: number;
  /** The engine in words (convkit-runner's describe()). */
  engine: string;
  layers: readonly LayerTime[];
  /** The inference groups that ran fused (empty when fusion is off). */
  groups: readonly FusedGroup[];
  /** nn.describeFusion of the model, or why nothing ran fused. */
  fusion: string;
  /** The pass's wall time, queueing to the last result (absent: not measured). */
  wallMs?: number;
  /** The layout the recorded pass kept its maps in, with each layout's measured ms per pass (nn.recordInference). */
  layout?: RecordedInference['layout'];
  /** The machine's FMA peak in GFLOP/s with the profile's threads (absent or null: not measured). */
  peakGflops?: number | null;
}

/** How many of the slowest layers the first table lists. */
export const TOP_LAYERS = 15;

/**
 * The group each module path ran in. A fused op reports the path of its group's first module (the
 * conv, the norm or the linear), so an op row belongs to the group whose member is exactly its path.
 */
export function groupsByPath(groups: readonly FusedGroup[]): Map<string, FusedGroup> {
  const byPath = new Map<string, FusedGroup>();
  for (const g of groups) for (const m of g.modules) if (!byPath.has(m)) byPath.set(m, g);
  return byPath;
}

/** A group in a table cell: its kind and its modules relative to the owner, e.g. `conv+bn+add+relu: conv2 bn2 downsample relu`. */
export function describeGroup(g: FusedGroup): string {
  const prefix = g.owner === '' ? '' : `${g.owner}.`;
  const names = g.modules.map((m) => (m.startsWith(prefix) ? m.slice(prefix.length) : m));
  return `${g.kind}: ${names.join(' ')}`;
}

/** The profile as markdown: a header, the Fusion line, the slowest layers, the time per op kind. */
/** A map size in words: 196 -> "14x14", else the pixel count. */
const mapSize = (pixels: number): string =>
  Number.isInteger(Math.sqrt(pixels)) ? `${Math.sqrt(pixels)}x${Math.sqrt(pixels)}` : `${pixels} pixels`;

/** What nn.recordInference's 'measure' kept, and what it timed. */
function layoutLine(l: NonNullable<Profile['layout']>): string {
  const what = (upTo: number): string => (upTo === 0 ? 'all blocked' : `nhwc up to ${mapSize(upTo)}`);
  const kept = l.nhwcUpTo === 0 ? 'every map blocked' : `maps up to ${mapSize(l.nhwcUpTo)} in nhwc (brgemm convs)`;
  if (l.trials.length === 0) return `Layout: ${kept} (the convs' tuned times favoured blocked at every map size)`;
  const trials = l.trials.map(
    (t) =>
      `${what(t.nhwcUpTo)} ${t.ms.toFixed(2)} ms against ${what(t.against.nhwcUpTo)} ${t.against.ms.toFixed(2)}${t.contended ? ' (cores contended)' : ''}: ${t.kept ? 'kept' : 'dropped'}`,
  );
  return `Layout: ${kept}; timed per pass: ${trials.join('; ')}`;
}

export function profileLines(p: Profile): string[] {
  const total = p.layers.reduce((s, l) => s + l.ms, 0);
  const pct = (ms: number): string => `${((100 * ms) / total).toFixed(1)}%`;
  const gflops = (l: { ms: number; macs: number }): number | null =>
    l.macs > 0 && l.ms > 0 ? (2 * l.macs) / 1e9 / (l.ms / 1000) : null;
  const gf = (l: { ms: number; macs: number }): string => gflops(l)?.toFixed(1) ?? '-';
  // Multiply-adds counted as the direct sum does: a Winograd conv may pass 100%.
  const ofPeak = (l: { ms: number; macs: number }): string => {
    const g = gflops(l);
    return g === null || !p.peakGflops ? '-' : `${Math.round((100 * g) / p.peakGflops)}%`;
  };
  const byPath = groupsByPath(p.groups);
  const lines = [
    '',
    `${p.model}, batch ${p.batch}: ${total.toFixed(1)} ms per batch (sum of op times on the worker thread; ${p.engine})`,
    ...(p.wallMs === undefined
      ? []
      : [
          `Wall time per pass: ${p.wallMs.toFixed(1)} ms; ${Math.max(0, p.wallMs - total).toFixed(1)} ms of it outside the ops (queueing, the worker waiting for JavaScript)`,
        ]),
    ...(p.layout ? [layoutLine(p.layout)] : []),
    ...(p.peakGflops
      ? [
          `FMA peak ${p.peakGflops} GFLOP/s (% of peak counts the direct sum's multiply-adds: a Winograd conv may pass 100%)`,
        ]
      : []),
    fusionLine(p.fusion),
    '',
    '| layer | op | fused group | calls | ms | share | GFLOP/s | % of peak | kernel |',
    '|:--|:--|:--|--:|--:|--:|--:|--:|:--|',
  ];
  for (const l of [...p.layers].sort((a, b) => b.ms - a.ms).slice(0, TOP_LAYERS)) {
    const group = byPath.get(l.path);
    lines.push(
      `| ${l.path} | ${l.op} | ${group ? describeGroup(group) : '-'} | ${Math.round(l.calls)} | ${l.ms.toFixed(2)} | ${pct(l.ms)} | ${gf(l)} | ${ofPeak(l)} | ${l.kernel ?? '-'} |`,
    );
  }
  const byOp = new Map<string, { ms: number; macs: number; calls: number }>();
  for (const l of p.layers) {
    const o = byOp.get(l.op) ?? { ms: 0, macs: 0, calls: 0 };
    byOp.set(l.op, { ms: o.ms + l.ms, macs: o.macs + l.macs, calls: o.calls + l.calls });
  }
  lines.push('', '| op | calls | ms | share | GFLOP/s | % of peak |', '|:--|--:|--:|--:|--:|--:|');
  for (const [op, o] of [...byOp].sort((a, b) => b[1].ms - a[1].ms))
    lines.push(`| ${op} | ${Math.round(o.calls)} | ${o.ms.toFixed(2)} | ${pct(o.ms)} | ${gf(o)} | ${ofPeak(o)} |`);
  return lines;
}
