/** Runs an experiment into a temporary folder once and checks what every report must hold. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { type ExperimentCliOptions, type ExperimentRun, runExperiment } from '../../src/cli/experiment.js';
import { REPORT_FILES } from '../../src/experiments/report.js';

export interface ReportFiles {
  run: ExperimentRun;
  dir: string;
  markdown: string;
  data: {
    schema: string;
    experiment: string;
    mode: string;
    claims: { id: string; claim: string; measured: string; held: boolean | null }[];
    verdict: boolean | null;
    data: Record<string, unknown>;
  };
  lines: string[];
}

/** `--quick` on Fashion-MNIST with seed 0; `tiny` sets smaller sizes (limit, epochs) for the experiments that train. */
export async function runQuick(name: string, tiny: Partial<ExperimentCliOptions> = {}): Promise<ReportFiles> {
  const dir = join(mkdtempSync(join(tmpdir(), `convkit-${name}-`)), 'report');
  const lines: string[] = [];
  const options = { quick: true, data: 'fashion-mnist', seed: 0, out: dir, ...tiny };
  const run = await runExperiment(name, options, (l) => lines.push(l));
  return {
    run,
    dir,
    markdown: readFileSync(join(dir, REPORT_FILES.markdown), 'utf8'),
    data: JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')),
    lines,
  };
}

/** The report has the claim, measured and verdict sections, one verdict per claim in data.json; the SVGs parse. */
export async function checkReport(r: ReportFiles): Promise<void> {
  assert.equal(r.data.schema, 'convkit.experiment/1');
  assert.equal(r.data.mode, 'quick');
  for (const heading of ["## The lecture's claim", '## What this run measured', '## Verdict'])
    assert.ok(r.markdown.includes(heading), `the report lacks ${heading}`);
  const verdict = r.markdown.slice(r.markdown.indexOf('## Verdict'));
  for (const c of r.data.claims) {
    const word = c.held === null ? 'not tested in this run' : c.held ? 'held' : 'did not hold';
    assert.ok(verdict.includes(`**${c.id}**: ${word} in this run.`), `verdict of ${c.id}`);
    assert.ok(r.markdown.includes(c.measured), `the report prints the measurement of ${c.id}`);
  }
  const svgs = readdirSync(r.dir).filter((f) => f.endsWith('.svg'));
  assert.ok(svgs.length >= 1, 'at least one chart');
  for (const f of svgs) {
    const text = readFileSync(join(r.dir, f), 'utf8');
    assert.match(text.trimStart(), /^<svg[\s>]/, `${f} has an <svg> root`);
    assert.ok(text.trimEnd().endsWith('</svg>'), `${f} closes its root`);
    // librsvg (through sharp) parses it as XML and renders it.
    const meta = await sharp(Buffer.from(text)).metadata();
    assert.equal(meta.format, 'svg', f);
    assert.ok((meta.width ?? 0) > 100 && (meta.height ?? 0) > 100, `${f} has a size`);
    assert.ok(r.markdown.includes(`](${f})`), `the report shows ${f}`);
  }
}
