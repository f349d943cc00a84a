import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/cli/args.js';
import { runProgram } from '../../src/cli/program.js';
import { runTrain } from '../../src/cli/train.js';
import type { TrainConfig } from '../../src/cli/train-config.js';
import { type MetricsRow, RUN_FILES } from '../../src/cli/train-run-folder.js';
import { setBackend } from '../../src/backend/registry.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir, trainOptions, writeTinyIdx } from './train-helpers.js';

// Bit-for-bit resume is promised on the reference backend.
setBackend('ref');

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src', 'cli', 'main.ts');
const tsx = import.meta.resolve('tsx');
const quiet = (): void => {};

const data = writeTinyIdx();

/** The model's tensors of a run's checkpoint, as arrays. */
function weightsOf(dir: string): Map<string, Float32Array | Float64Array> {
  const ckpt = loadCheckpoint(join(dir, RUN_FILES.checkpoint));
  const out = new Map([...ckpt.model].map(([k, t]) => [k, t.toArray()] as const));
  ckpt.dispose();
  return out;
}

function metricsOf(dir: string): MetricsRow[] {
  return readFileSync(join(dir, RUN_FILES.metrics), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRow);
}

/** The rows without the timings, which differ between runs. */
const withoutTimes = (rows: MetricsRow[]): Omit<MetricsRow, 'images_per_s' | 'seconds'>[] =>
  rows.map(({ images_per_s: _r, seconds: _s, ...rest }) => rest);

function assertSameWeights(a: string, b: string): void {
  const wa = weightsOf(a);
  const wb = weightsOf(b);
  assert.deepEqual([...wa.keys()], [...wb.keys()]);
  for (const [k, v] of wa) {
    const w = wb.get(k);
    assert.ok(w !== undefined);
    assert.ok(
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)),
      `${k} differs`,
    );
  }
}

describe('convkit train', () => {
  const straight = tempDir();

  it('trains 2 epochs in-process: config.json, metrics.jsonl, curves.svg and a checkpoint that loads', async () => {
    const result = await runTrain('tiny_cnn', trainOptions(data, straight), { out: quiet });
    assert.equal(result.interrupted, false);
    const config = JSON.parse(readFileSync(join(straight, RUN_FILES.config), 'utf8')) as TrainConfig;
    assert.equal(config.model, 'tiny_cnn');
    assert.deepEqual(config.input, [1, 8, 8]);
    assert.equal(config.normalize.mean.length, 1);
    assert.equal(config.lr, 0.1);
    assert.equal(config.weightDecay, 5e-4);
    const rows = metricsOf(straight);
    assert.deepEqual(
      rows.map((r) => [r.epoch, r.step]),
      [
        [1, 3],
        [2, 6],
      ],
    );
    for (const r of rows) {
      for (const key of ['lr', 'train_loss', 'train_acc', 'test_loss', 'test_acc', 'images_per_s', 'seconds'] as const)
        assert.ok(Number.isFinite(r[key]), `${key} of epoch ${r.epoch}`);
    }
    assert.match(readFileSync(join(straight, RUN_FILES.chart), 'utf8'), /^<svg/);
    const ckpt = loadCheckpoint<TrainConfig>(join(straight, RUN_FILES.checkpoint));
    assert.deepEqual(ckpt.progress, { epoch: 2, step: 6 });
    assert.equal(ckpt.config.model, 'tiny_cnn');
    assert.ok(ckpt.model.has('stem.0.0.weight'));
    assert.ok(ckpt.optimizer.tensors.size > 0, 'momentum buffers are saved');
    assert.deepEqual(Object.keys(ckpt.generators).sort(), ['augmentation', 'default', 'order']);
    ckpt.dispose();
    assert.deepEqual(readdirSync(straight).sort(), Object.values(RUN_FILES).sort(), 'no temporary files left');
  });

  it('resumed at an epoch boundary, the run equals the uninterrupted one bit for bit (ref backend)', async () => {
    const dir = tempDir();
    const first = await runTrain('tiny_cnn', trainOptions(data, dir), { out: quiet, stopAfter: (s) => s === 3 });
    assert.equal(first.interrupted, true);
    assert.equal(metricsOf(dir).length, 1);
    const lines: string[] = [];
    const second = await runTrain(undefined, trainOptions(data, dir, { out: undefined, resume: dir }), {
      out: (l) => lines.push(l),
    });
    assert.equal(second.interrupted, false);
    assert.match(lines[0], /resuming .* after epoch 1 \(step 3\)/);
    assertSameWeights(straight, dir);
    assert.deepEqual(withoutTimes(metricsOf(dir)), withoutTimes(metricsOf(straight)));
  });

  it('resumed twice in the middle of epochs, with 1 then 2 loader workers, the run equals the uninterrupted one (0 workers) bit for bit', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    await runTrain('tiny_cnn', trainOptions(data, dir, { workers: 1 }), {
      out: (l) => lines.push(l),
      stopAfter: (s) => s === 2,
    });
    assert.ok(
      lines.some((l) => /^continue with: convkit train --resume /.test(l)),
      lines.join('\n'),
    );
    assert.equal(existsSync(join(dir, RUN_FILES.metrics)), false, 'no epoch finished yet');
    const resume = trainOptions(data, dir, { out: undefined, resume: dir, workers: 2 });
    const second = await runTrain(undefined, resume, { out: quiet, stopAfter: (s) => s === 4 });
    assert.equal(second.interrupted, true);
    const ckpt = loadCheckpoint(join(dir, RUN_FILES.checkpoint));
    assert.equal(ckpt.progress.epoch, 1);
    assert.equal(ckpt.progress.partial?.batches, 1);
    ckpt.dispose();
    await runTrain(undefined, resume, { out: quiet });
    assertSameWeights(straight, dir);
    assert.deepEqual(withoutTimes(metricsOf(dir)), withoutTimes(metricsOf(straight)));
  });

  it('AdamW with warm-up, a step schedule and label smoothing resumes bit for bit too', async () => {
    const extra = {
      optimizer: 'adamw',
      schedule: 'step',
      warmup: 1,
      labelSmoothing: 0.1,
      epochs: 3,
      seed: 5,
    } as const;
    const a = tempDir();
    const b = tempDir();
    await runTrain('tiny_cnn', trainOptions(data, a, extra), { out: quiet });
    await runTrain('tiny_cnn', trainOptions(data, b, extra), { out: quiet, stopAfter: (s) => s === 5 });
    const ckpt = loadCheckpoint(join(b, RUN_FILES.checkpoint));
    assert.equal(ckpt.optimizer.optimizer, 'AdamW');
    assert.ok([...ckpt.optimizer.tensors.keys()].some((k) => k.endsWith('.expAvgSq')));
    ckpt.dispose();
    await runTrain(undefined, trainOptions(data, b, { ...extra, out: undefined, resume: b }), { out: quiet });
    assertSameWeights(a, b);
    const rows = metricsOf(b);
    assert.deepEqual(withoutTimes(rows), withoutTimes(metricsOf(a)));
    // Warm-up from lr/3 over one epoch, then the step schedule (x0.1 every third of the 2 remaining epochs: each).
    const expected = [0.001 / 3, 0.001, 0.0001];
    rows.forEach((r, i) => assert.ok(Math.abs(r.lr - expected[i]) < 1e-15, `epoch ${r.epoch}: lr ${r.lr}`));
    const config = JSON.parse(readFileSync(join(a, RUN_FILES.config), 'utf8')) as TrainConfig;
    assert.equal(config.weightDecay, 0.05);
    assert.equal(config.momentum, 0);
  });

  it('starts over in a folder whose run died before its first checkpoint', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, RUN_FILES.config), '{}');
    const result = await runTrain('tiny_cnn', trainOptions(data, dir, { epochs: 1 }), { out: quiet });
    assert.equal(result.metrics.length, 1);
    assert.equal((JSON.parse(readFileSync(join(dir, RUN_FILES.config), 'utf8')) as TrainConfig).model, 'tiny_cnn');
  });

  it('refuses a folder that holds a run, and changes to a resumed run', async () => {
    await assert.rejects(runTrain('tiny_cnn', trainOptions(data, straight), { out: quiet }), /already holds a run/);
    await assert.rejects(
      runTrain(undefined, trainOptions(data, straight, { resume: straight }), { out: quiet, explicit: ['epochs'] }),
      /--epochs cannot change it/,
    );
    await assert.rejects(
      runTrain('tiny_cnn', trainOptions(data, straight, { resume: straight }), { out: quiet }),
      UsageError,
    );
    await assert.rejects(
      runTrain(undefined, trainOptions(data, tempDir(), { resume: tempDir() }), { out: quiet }),
      /holds no checkpoint/,
    );
  });

  it('bad arguments are one-line usage errors', async () => {
    const run = (...args: string[]) => runProgram(['node', 'convkit', 'train', ...args], quiet);
    const cases: [string[], RegExp][] = [
      [['tiny_cnn', '--epochs', '0'], /^--epochs: expected an integer from 1 to 10000, got 0/],
      [['tiny_cnn', '--lr', '-1'], /^--lr: expected a number above 0/],
      [['tiny_cnn', '--optimizer', 'lion'], /^--optimizer: expected one of sgd, adam, adamw, got lion/],
      [
        ['tiny_cnn', '--data', 'mnist'],
        /^--data: expected fashion-mnist, idx:DIR, cifar10:DIR, cifar100:DIR or folder:DIR, got mnist/,
      ],
      [['tiny_cnn', '--batch-size', '1e9'], /^--batch-size: expected an integer from 1 to 4096/],
      [['resnet_20'], /unknown model 'resnet_20'; closest: .*\(or tiny_cnn\)/],
      [[], /train needs a model/],
      [
        ['tiny_cnn', '--data', `idx:${data}`, '--epochs', '2', '--warmup', '2', '--out', join(tempDir(), 'x')],
        /^--warmup: expected fewer/,
      ],
      [['vgg11', '--data', `idx:${data}`, '--out', join(tempDir(), 'x')], /^vgg11 cannot take 1x8x8 images/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(run(...args), (err: unknown) => {
        assert.ok(err instanceof UsageError, `${args.join(' ')}: ${String(err)}`);
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    }
  });

  it('runs as a child process, and Ctrl-C saves a checkpoint and says how to resume', async () => {
    const dir = join(tempDir(), 'run');
    const env = { ...process.env, CONVKIT_BACKEND: 'ref', CONVKIT_DEBUG: '' };
    const args = ['--import', tsx, main, 'train', 'tiny_cnn', '--data', `idx:${data}`, '--batch-size', '16'];
    const once = spawnSync(process.execPath, [...args, '--epochs', '1', '--out', dir], { encoding: 'utf8', env });
    assert.equal(once.status, 0, once.stderr);
    assert.match(once.stdout, /done: test accuracy/);
    assert.equal(metricsOf(dir).length, 1);

    const long = join(tempDir(), 'run');
    const child = spawn(process.execPath, [...args, '--epochs', '1000', '--out', long], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      // Interrupt once training is under way.
      if (/epoch 2\/1000/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(code, 130, stderr);
    assert.match(stdout, /continue with: convkit train --resume /);
    assert.equal(
      stderr
        .trim()
        .split('\n')
        .filter((l) => /stopping after this step/.test(l)).length,
      1,
    );
    const ckpt = loadCheckpoint(join(long, RUN_FILES.checkpoint));
    assert.ok(ckpt.progress.epoch >= 1);
    ckpt.dispose();
    assert.deepEqual(
      readdirSync(long).filter((f) => f.endsWith('.tmp')),
      [],
    );
    writeFileSync(join(long, 'note'), ''); // the folder stays usable
  });
});
