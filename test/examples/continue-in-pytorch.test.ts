/**
 * examples/continue-in-pytorch: a convkit model written as .pth is trained on by PyTorch's
 * DistributedDataParallel under torchrun (two CPU processes, gloo), and the result loads back into
 * convkit. The model is convkit's resnet18 with 10 classes and a one-channel stem (as `convkit
 * train resnet18` on Fashion-MNIST builds it), so the example must read both from the weights;
 * one step of batch 4 per process on synthetic 32x32 images: about 10 s of CPU, most of it three
 * Python processes importing torch. Skipped, saying why, without /usr/bin/python3's torch or
 * /usr/bin/torchrun.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { torchSkipReason } from '../../scripts/check-interop.js';
import { manualSeed } from '../../src/core/random.js';
import { loadWeights } from '../../src/io/load-weights.js';
import { writePth } from '../../src/io/pth-write.js';
import { buildModel } from '../../src/models/registry.js';

const TORCHRUN = '/usr/bin/torchrun';
const SCRIPT = fileURLToPath(new URL('../../examples/continue-in-pytorch/train_ddp.py', import.meta.url));
/**
 * Debian's torchrun (torch 1.13 on Python 3.11) fails at start with "'NoneType' object has no
 * attribute 'get'" when --redirects and --tee keep their default "0": its Std.from_str cannot find
 * the zero flag among Python 3.11's IntFlag members. A mapping for a rank that does not exist
 * gives every real rank the default (no redirection); examples/continue-in-pytorch/README.md says so.
 */
const DEBIAN_TORCHRUN_FIX = ['--redirects', '9:0', '--tee', '9:0'];

/** A TCP port free right now, for torchrun's rendezvous (its default 29400 may be in use). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

describe('examples/continue-in-pytorch', () => {
  const noTorch = torchSkipReason();
  const skip = noTorch !== false ? noTorch : existsSync(TORCHRUN) ? false : `${TORCHRUN} is missing (python3-torch)`;

  it("train_ddp.py takes convkit's resnet18 .pth for one DDP step on two gloo processes, and convkit reads the result", {
    skip,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'convkit-ddp-test-'));
    try {
      manualSeed(5);
      const model = buildModel('resnet18', { classes: 10, inChannels: 1 });
      const weights = join(dir, 'resnet18.pth');
      writePth(weights, model.stateDict());
      const out = join(dir, 'resnet18-torch.pth');
      const args = [
        '--nnodes=1',
        '--nproc_per_node=2',
        '--rdzv_backend=c10d',
        `--rdzv_endpoint=127.0.0.1:${await freePort()}`,
        ...DEBIAN_TORCHRUN_FIX,
        SCRIPT,
        ...['--arch', 'resnet18', '--weights', weights, '--data', 'synthetic', '--image-size', '32'],
        ...['--batch-size', '4', '--steps', '1', '--out', out],
      ];
      const run = spawnSync(TORCHRUN, args, { encoding: 'utf-8', timeout: 300_000 });
      assert.equal(run.status, 0, `torchrun ${args.join(' ')}: ${run.error?.message ?? run.stderr}`);
      const lines = run.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const steps = lines.filter((l) => 'step' in l);
      assert.equal(steps.length, 1, run.stdout);
      assert.ok(Number.isFinite(steps[0].loss) && (steps[0].loss as number) > 0, `loss ${steps[0].loss}`);
      const end = lines.at(-1) as {
        saved: string;
        steps: number;
        processes: number;
        max_weight_change: number;
        replicas_max_parameter_difference: number;
        finite: boolean;
      };
      assert.deepEqual([end.saved, end.steps, end.processes, end.finite], [out, 1, 2, true]);
      assert.equal(end.replicas_max_parameter_difference, 0, 'the two processes ended with different parameters');
      assert.ok(end.max_weight_change > 0, 'the step changed no weight');

      // convkit reads PyTorch's result strictly and sees the same change PyTorch reported.
      const trained = buildModel('resnet18', { classes: 10, inChannels: 1, backend: 'ref' });
      loadWeights(trained, out);
      const before = model.stateDict();
      let moved = 0;
      for (const [key, t] of trained.stateDict()) {
        if (key.endsWith('num_batches_tracked')) continue;
        const [a, b] = [t.toArray(), before.get(key)!.toArray()];
        for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - b[i]));
      }
      assert.ok(
        Math.abs(moved - end.max_weight_change) <= 1e-6 * end.max_weight_change,
        `${moved} vs ${end.max_weight_change}`,
      );
      model.dispose();
      trained.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
