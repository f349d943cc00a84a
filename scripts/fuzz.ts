/**
 * `npm run fuzz`: the differential fuzzer at length. Runs N generated cases (default 10,000),
 * spread evenly over every op (or the --ops given), on the reference and the native backend, and
 * compares them (test/fuzz/harness.ts, tolerances in test/fuzz/tolerances.ts). A disagreement is
 * shrunk by fast-check, printed, and saved under test/fuzz/found/ for test/fuzz/regressions.test.ts.
 *
 *   npm run fuzz -- --cases 2000 --seed 7 --ops conv2d,maxPool2d
 *   npm run fuzz -- --all-specials          # special values for every op, ignoring the table's switch
 *   npm run fuzz -- --replay test/fuzz/found/<file>.json
 *   npm run fuzz -- --list
 *   npm run fuzz -- --formats               # the weight-file readers instead: mutated files (test/fuzz/formats.ts)
 *   npm run fuzz -- --formats pth-legacy --cases 20000 --seed 3
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  DEFAULT_CONFIG,
  type FuzzConfig,
  fuzzOp,
  loadRepro,
  nativeMissing,
  OPS,
  type OpResult,
  replay,
  saveRepro,
  stringifyRepro,
} from '../test/fuzz/harness.js';
import { nativeFallbacks } from '../src/backend/native/index.js';
import { FORMATS, type FormatName, fuzzFormat, torchVerdicts } from '../test/fuzz/formats.js';
import { TOLERANCES } from '../test/fuzz/tolerances.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

const program = new Command('fuzz')
  .description('differential fuzzing of every op: reference backend against native backend')
  .option('--cases <n>', 'cases in all, spread over the ops', int('--cases'), 10_000)
  .option('--seed <n>', 'fast-check seed (the same seed repeats the run)', int('--seed'), 1)
  .option('--ops <names>', 'comma-separated op names (see --list)')
  .option('--special-rate <f>', 'fraction of cases with special values', Number, DEFAULT_CONFIG.specialRate)
  .option('--all-specials', "special values for every op, ignoring the table's specialValues switch", false)
  .option('--include-known', 'run the cases of test/fuzz/known-issues.ts too (some crash the process)', false)
  .option('--no-save', 'do not write reproductions under test/fuzz/found/')
  .option('--replay <file>', 'replay one saved reproduction and exit')
  .option('--list', 'list the ops and exit')
  .option(
    '--formats [names]',
    `fuzz the weight-file readers instead, with mutated files: ${Object.keys(FORMATS).join(', ')} (comma-separated; all by default)`,
  )
  .option('--no-progress', 'no progress bar')
  .parse();

const opts = program.opts<{
  cases: number;
  seed: number;
  ops?: string;
  specialRate: number;
  allSpecials: boolean;
  includeKnown: boolean;
  save: boolean;
  replay?: string;
  list?: boolean;
  formats?: string | boolean;
  progress: boolean;
}>();

/** `--formats`: mutants of each format's file, spread over the formats; PyTorch compares the .pth ones it can. */
function fuzzFormats(): number {
  const all = Object.keys(FORMATS) as FormatName[];
  const names = typeof opts.formats === 'string' ? (opts.formats.split(',').map((s) => s.trim()) as FormatName[]) : all;
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`fuzz: unknown format(s) ${unknown.join(', ')}; known: ${all.join(', ')}`);
    return 2;
  }
  const per = Math.max(1, Math.ceil(opts.cases / names.length));
  console.log(`fuzz: ${per} mutants per format (${names.join(', ')}), seed ${opts.seed}`);
  let failures = 0;
  const loaded = [];
  for (const name of names) {
    const t0 = performance.now();
    const { outcome, failure } = fuzzFormat(name, per, opts.seed);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `${name.padEnd(12)} ${String(outcome.read).padStart(6)} read, ${String(outcome.refused).padStart(6)} refused  ${s} s  ${failure ? 'FAILS' : 'ok'}`,
    );
    if (failure) {
      failures++;
      console.log(`    ${failure}`);
    }
    loaded.push(...outcome.loaded);
  }
  if (loaded.length > 0) {
    const dir = mkdtempSync(join(tmpdir(), 'convkit-fuzz-formats-'));
    try {
      const verdict = torchVerdicts(loaded.slice(0, 3000), dir);
      if (!verdict)
        console.log('torch.load: /usr/bin/python3 cannot import torch, so the .pth mutants are not compared');
      else {
        console.log(
          `torch.load: ${verdict.compared} .pth mutants convkit read compared; ${verdict.zipTorchDiffers} zip ones torch refuses or misreads (see torchVerdicts)`,
        );
        for (const p of verdict.problems.slice(0, 20)) console.log(`    ${p}`);
        if (verdict.problems.length > 0) failures++;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(
    `fuzz: ${failures === 0 ? 'every load gave the right tensors or a convkit error' : `${failures} failure(s)`}`,
  );
  return failures > 0 ? 1 : 0;
}

function main(): number {
  if (opts.formats) return fuzzFormats();
  if (opts.list) {
    for (const o of OPS)
      console.log(`${o.name}${TOLERANCES[o.name]?.specialValues === false ? ' (special values off)' : ''}`);
    return 0;
  }
  const missing = nativeMissing();
  if (missing) {
    console.error(`fuzz: the native backend is unavailable, nothing to compare against: ${missing}`);
    return 2;
  }
  if (opts.replay) {
    const r = loadRepro(opts.replay);
    const d = replay(opts.replay);
    console.log(`${r.name}: ${d ? `DISAGREES: ${d.message}` : 'backends agree'}`);
    return d ? 1 : 0;
  }
  const wanted = opts.ops?.split(',').map((s) => s.trim());
  const unknown = wanted?.filter((w) => !OPS.some((o) => o.name === w)) ?? [];
  if (unknown.length > 0) {
    console.error(`fuzz: unknown op(s) ${unknown.join(', ')}; --list shows them`);
    return 2;
  }
  const specs = wanted ? OPS.filter((o) => wanted.includes(o.name)) : OPS;
  const perOp = Math.max(1, Math.ceil(opts.cases / specs.length));
  const lastCaseFile = join(tmpdir(), `convkit-fuzz-last-case-${process.pid}.json`);
  const cfg: FuzzConfig = {
    specialRate: opts.specialRate,
    allSpecials: opts.allSpecials,
    lastCaseFile,
    includeKnown: opts.includeKnown,
  };
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`fuzz: a crash of the native addon would leave the case that was running in ${lastCaseFile}`);
  console.log(
    `fuzz: ${perOp * specs.length} cases (${perOp} per op, ${specs.length} ops), seed ${opts.seed}, special values in ${Math.round(100 * cfg.specialRate)}% of cases${cfg.allSpecials ? ' for every op' : ' where the table allows'}; ${hostname()}, ${cpu}`,
  );

  const bar = new SingleBar({
    format: 'fuzz [{bar}] {value}/{total} cases | {op} | {failures} disagreeing op(s) | {duration_formatted}',
    hideCursor: true,
    noTTYOutput: false,
  });
  if (opts.progress) bar.start(perOp * specs.length, 0, { op: '', failures: 0 });
  const results: { result: OpResult; ms: number; file?: string }[] = [];
  const started = performance.now();
  let done = 0;
  let failures = 0;
  for (const spec of specs) {
    const t0 = performance.now();
    let ran = 0;
    let failed = false;
    const result = fuzzOp(spec, perOp, opts.seed, cfg, (ok) => {
      // after a failure fast-check keeps calling while it shrinks: those are not new cases
      if (failed || ran >= perOp) return;
      ran++;
      if (!ok) failed = true;
      if (opts.progress) bar.update(done + ran, { op: spec.name, failures: failures + (failed ? 1 : 0) });
    });
    done += perOp;
    const entry: { result: OpResult; ms: number; file?: string } = { result, ms: performance.now() - t0 };
    if (result.failure) {
      failures++;
      if (opts.save) entry.file = saveRepro(result);
    }
    results.push(entry);
    if (opts.progress) bar.update(done, { op: spec.name, failures });
  }
  if (opts.progress) bar.stop();
  rmSync(lastCaseFile, { force: true });
  const seconds = (performance.now() - started) / 1000;

  console.log('\nop                   cases   time (s)  result');
  for (const { result, ms, file } of results) {
    const status = result.failure
      ? `DISAGREES (${result.failure.disagreement.special ? 'special values' : 'finite values'}, ${result.failure.disagreement.kind}) after ${result.cases} cases`
      : 'agrees';
    console.log(
      `${result.op.padEnd(20)} ${String(result.cases).padStart(5)}  ${(ms / 1000).toFixed(2).padStart(8)}  ${status}`,
    );
    if (result.failure) {
      console.log(`    ${result.failure.disagreement.message}`);
      if (file) console.log(`    saved: ${relative(process.cwd(), file)}`);
    }
  }
  // Coverage of the native backend: which kernels ran the reference code instead, and why.
  const fallbacks = [...nativeFallbacks()].sort((a, b) => b[1] - a[1]);
  console.log(
    `\nnative kernels that fell back to the reference kernel (${fallbacks.length} kinds; CONVKIT_DEBUG=native):`,
  );
  for (const [what, n] of fallbacks.slice(0, 12)) console.log(`  ${String(n).padStart(6)}  ${what}`);
  if (fallbacks.length > 12) console.log(`  ... and ${fallbacks.length - 12} more`);
  const total = results.reduce((n, r) => n + r.result.cases, 0);
  console.log(`\nfuzz: ${total} cases in ${seconds.toFixed(1)} s; ${failures} of ${specs.length} ops disagree.`);
  for (const { result, file } of results) {
    if (!result.failure) continue;
    console.log(`\n--- reproduction: ${result.op} (${result.failure.shrinks} shrinks) ---`);
    if (file) console.log(`npm run fuzz -- --replay ${relative(process.cwd(), file)}`);
    else {
      const { case: c, disagreement: d, seed, path } = result.failure;
      console.log(
        stringifyRepro({
          name: result.op,
          op: result.op,
          found: new Date().toISOString(),
          seed,
          path,
          disagreement: d.message,
          special: d.special,
          case: c,
        }),
      );
    }
  }
  return failures > 0 ? 1 : 0;
}

process.exitCode = main();
