/**
 * The tour as `npm start` runs it (`convkit tour`), on tiny settings: a child process runs every
 * experiment in turn on a tiny 8x8 IDX task (no data set needed) and must leave a complete report
 * folder for each, listed at the end of its output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { experimentNames } from '../../src/experiments/registry.js';
import { REPORT_FILES } from '../../src/experiments/report.js';
import { writeTinyIdx } from '../cli/train-helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = import.meta.resolve('tsx');

function convkit(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', tsx, join(root, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, CONVKIT_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('convkit tour --tiny', () => {
  it('runs the seven experiments in turn and leaves a whole report folder for each', () => {
    const data = writeTinyIdx({ train: 48, test: 30 });
    const out = join(mkdtempSync(join(tmpdir(), 'convkit-tour-')), 'reports');
    const r = convkit(['tour', '--tiny', '--data', `idx:${data}`, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const names = experimentNames();
    assert.equal(names.length, 7);
    names.forEach((name, i) => assert.match(r.stdout, new RegExp(`^\\[${i + 1}/7\\] `, 'm'), `step ${name}`));
    const reports = r.stdout.slice(r.stdout.indexOf('\nReports ('));
    for (const name of names) {
      const dir = join(out, name);
      const report = join(dir, REPORT_FILES.markdown);
      assert.ok(reports.includes(`${name.padEnd(19)} ${report}`), `the tour ends with the path of ${report}`);
      const markdown = readFileSync(report, 'utf8');
      assert.match(markdown, /^# /);
      const json = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
      assert.equal(json.schema, 'convkit.experiment/1');
      assert.equal(json.experiment, name);
      assert.ok(json.claims.length >= 1, `${name} has claims`);
      // Each claim's verdict is printed on the step's verdict line.
      for (const c of json.claims) assert.match(r.stdout, new RegExp(`[:,] ${c.id}[,;( ]`), `${name}: ${c.id}`);
      assert.ok(json.charts.length >= 1, `${name} has charts`);
      for (const chart of json.charts) {
        const svg = readFileSync(join(dir, chart.file), 'utf8');
        assert.match(svg.trimStart(), /^<svg[\s>]/, `${name}/${chart.file}`);
        assert.ok(svg.trimEnd().endsWith('</svg>'), `${name}/${chart.file} is whole`);
        assert.ok(markdown.includes(`](${chart.file})`), `${name}'s report shows ${chart.file}`);
      }
    }
  });

  it('refuses an --out it cannot write before any step runs', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'convkit-tour-')), 'a-file');
    writeFileSync(file, '');
    const r = convkit(['tour', '--tiny', '--out', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^convkit: --out: .*a-file is not a folder, so .*one-by-one\/report\.md cannot be written\n$/,
    );
    assert.ok(!existsSync(join(file, 'one-by-one')));
  });
});
