/**
 * The bench's time to first result: per model, convkit's build (`init: 'none'`), weight load and
 * first batch-1 pass against ONNX Runtime's session creation and first run, each side in fresh
 * processes (scripts/bench/first-result-run.ts), taking turns; a figure is the median of `runs`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './timing.js';

const RUNNER = fileURLToPath(new URL('./first-result-run.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface FirstResult {
  model: string;
  /** convkit: buildModel, loadWeights, first pass, their sum, and a steady pass (the third; ms). */
  convkit: { build: number; load: number; first: number; total: number; second: number } | null;
  /** ONNX Runtime: InferenceSession.create, first run, their sum, and a second run (ms). */
  ort: { create: number; first: number; total: number; second: number } | null;
  /** Largest difference of the first logits of the two sides (the same weights give the same function). */
  logitsDiff: number | null;
}

type Measured = Record<string, number> & { logits: number[] };

function runSide(side: 'convkit' | 'ort', model: string, file: string, threads: number): Measured {
  const r = spawnSync(process.execPath, ['--import', 'tsx', RUNNER, side, model, file, String(threads)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  const last = r.stdout?.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !last.startsWith('{'))
    throw new Error(`${side} ${model}: ${errorLine(r.stderr || r.error?.message || `exit ${r.status}`)}`);
  return JSON.parse(last) as Measured;
}

/** The line of a dead process's stderr that says what went wrong (Node prints the throwing source line first). */
export function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.find((line) => /^\w*Error\b/.test(line)) ?? lines[0];
}

/** The median of each field over the runs. */
function medians<K extends string>(runs: readonly Measured[], keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) as Record<K, number>;
}

/** Times every model `runs` times per side; `dir` holds MODEL.onnx and MODEL.pth (export_onnx.py). */
export function timeFirstResults(
  models: readonly string[],
  dir: string,
  threads: number,
  runs: number,
  progress: (line: string) => void,
  failed: (message: string) => void,
): FirstResult[] {
  return models.map((model) => {
    const ours: Measured[] = [];
    const theirs: Measured[] = [];
    let why = '';
    try {
      for (let i = 0; i < runs; i++) {
        ours.push(runSide('convkit', model, join(dir, `${model}.pth`), threads));
        theirs.push(runSide('ort', model, join(dir, `${model}.onnx`), threads));
      }
    } catch (err) {
      why = ` (${(err as Error).message})`;
      failed(`time to first result: ${(err as Error).message}`);
    }
    const result: FirstResult = {
      model,
      convkit: ours.length === runs ? medians(ours, ['build', 'load', 'first', 'total', 'second'] as const) : null,
      ort: theirs.length === runs ? medians(theirs, ['create', 'first', 'total', 'second'] as const) : null,
      logitsDiff:
        ours.length > 0 && theirs.length > 0
          ? Math.max(...ours[0].logits.map((v, i) => Math.abs(v - theirs[0].logits[i])))
          : null,
    };
    const total = (side: { total: number } | null): string => (side ? `${side.total.toFixed(0)} ms` : 'failed');
    progress(
      `${model} first result: convkit ${total(result.convkit)}, ORT ${total(result.ort)}${why || ` (median of ${runs} fresh processes each)`}`,
    );
    return result;
  });
}

export const FIRST_RESULT_TITLE =
  "Time to first result (fresh process, batch 1, 224x224, imports excluded): convkit buildModel(init 'none') + loadWeights(.pth) + first pass vs ONNX Runtime InferenceSession.create + first run, the same weights";

/** The table: each phase, the totals and their ratio (ORT total / convkit total: above 1, convkit answers first). */
export function firstResultTable(results: readonly FirstResult[]): string {
  const ms = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(0));
  const header = [
    'model',
    'convkit build ms',
    'load ms',
    'first pass ms',
    'total ms',
    'ORT session ms',
    'first run ms',
    'total ms',
    'vs ORT',
    'steady pass: convkit / ORT ms',
  ];
  const rows = results.map((r) => [
    r.model,
    ms(r.convkit?.build),
    ms(r.convkit?.load),
    ms(r.convkit?.first),
    ms(r.convkit?.total),
    ms(r.ort?.create),
    ms(r.ort?.first),
    ms(r.ort?.total),
    r.convkit && r.ort ? `${(r.ort.total / r.convkit.total).toFixed(2)}x` : '-',
    `${ms(r.convkit?.second)} / ${ms(r.ort?.second)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((c) => c[i].length)));
  const line = (c: string[]): string =>
    `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [`${FIRST_RESULT_TITLE}\n`, line(header), rule, ...rows.map(line), ''].join('\n');
}
