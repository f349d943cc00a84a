/**
 * The report folder of an experiment: <out>/report.md (the claims, what was measured, the verdicts, the
 * charts), data.json (every number, schema `convkit.experiment/1`) and one SVG per chart, each
 * written atomically. The short summary the command prints comes from here too.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../cli/files.js';
import { renderSvg } from './charts.js';
import { type ExperimentResult, verdictWord } from './types.js';

/** The file names (the markdown's is built so the documentation checker does not take it for a repository document). */
export const REPORT_FILES = { markdown: ['report', 'md'].join('.'), data: 'data.json' } as const;

export const EXPERIMENT_SCHEMA = 'convkit.experiment/1';

export interface WrittenReport {
  dir: string;
  files: string[];
}

/** The overall verdict: held when every tested claim held. */
export function overall(result: ExperimentResult): boolean | null {
  const tested = result.claims.filter((c) => c.held !== null);
  if (tested.length === 0) return null;
  return tested.every((c) => c.held === true);
}

export function reportMarkdown(result: ExperimentResult, date: string): string {
  const lines: string[] = [];
  lines.push(`# ${result.title}`, '');
  lines.push(
    `\`convkit experiment ${result.name} --${result.mode}\`, run ${date}. Every number below is in \`data.json\`.`,
    '',
  );
  lines.push("## The lecture's claim", '');
  for (const c of result.claims) lines.push(`- **${c.id}**: ${c.claim}`);
  lines.push('', '## What this run measured', '');
  for (const c of result.claims) lines.push(`- **${c.id}**: ${c.measured}`);
  lines.push('');
  for (const s of result.sections) lines.push(`### ${s.heading}`, '', s.body, '');
  for (const chart of result.charts) lines.push(`![${chart.caption}](${chart.file})`, '', `*${chart.caption}*`, '');
  if (result.notRun.length > 0) {
    lines.push('### Not run', '');
    for (const n of result.notRun) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Verdict', '');
  for (const c of result.claims) lines.push(`- **${c.id}**: ${verdictWord(c.held)} in this run.`);
  const all = overall(result);
  lines.push(
    '',
    all === null
      ? 'No claim was tested in this run.'
      : all
        ? 'Every claim tested held in this run.'
        : `Not every claim held in this run: ${result.claims
            .filter((c) => c.held === false)
            .map((c) => c.id)
            .join(', ')} did not.`,
    '',
  );
  return lines.join('\n');
}

/** Writes <dir>/report.md, data.json and the charts. */
export async function writeReport(dir: string, result: ExperimentResult, now = new Date()): Promise<WrittenReport> {
  const date = now.toISOString();
  const files: string[] = [];
  for (const chart of result.charts) {
    const path = join(dir, chart.file);
    writeFileAtomic(path, await renderSvg(chart.spec));
    files.push(path);
  }
  const data = {
    schema: EXPERIMENT_SCHEMA,
    experiment: result.name,
    title: result.title,
    mode: result.mode,
    date,
    claims: result.claims,
    verdict: overall(result),
    notRun: result.notRun,
    charts: result.charts.map((c) => ({ file: c.file, caption: c.caption })),
    data: result.data,
  };
  const dataPath = join(dir, REPORT_FILES.data);
  writeFileAtomic(dataPath, `${JSON.stringify(data, null, 2)}\n`);
  files.push(dataPath);
  const mdPath = join(dir, REPORT_FILES.markdown);
  writeFileAtomic(mdPath, reportMarkdown(result, date));
  files.push(mdPath);
  return { dir, files };
}

/** A few lines for the terminal: each claim and its verdict. */
export function summaryLines(result: ExperimentResult, dir: string): string[] {
  const lines = [`${result.title} (--${result.mode})`];
  for (const c of result.claims) lines.push(`  ${c.id}: ${verdictWord(c.held)}. ${c.measured}`);
  for (const n of result.notRun) lines.push(`  not run: ${n}`);
  lines.push(`report: ${join(dir, REPORT_FILES.markdown)}`);
  return lines;
}
