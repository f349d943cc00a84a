/**
 * The "Run it" part of `npm run bench:explorer`: a run folder holding ResNet-20 (resnet20_cifar,
 * its own initialisation, no training: the time does not depend on the weights) with a convkit
 * checkpoint, opened in the page; each pass feeds a fresh 32x32 PNG through the file picker and
 * reads the page's measures: the inference pass (`convkit:run-it-forward`, what `convkit predict`
 * runs: the fused forward on the ref backend and the softmax) and the traced pass that keeps every
 * layer's output for the maps (`convkit:run-it-trace`). Target: the forward within 100 ms. Each
 * pass also runs the same forward in Node on the ref backend just before, as a control: on a
 * loaded host both slow down together, and the page's number is read against Node's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { withBackend } from '../src/backend/registry.js';
import type { Tensor } from '../src/core/tensor.js';
import type { TensorModule } from '../src/nn/module.js';
import { classProbabilities } from '../src/train/evaluate.js';
import { writeSafetensors } from '../src/io/safetensors-write.js';
import { getModel } from '../src/models/registry.js';
import { CHECKPOINT_FORMAT } from '../src/train/checkpoint.js';

const MODEL = 'resnet20_cifar';
const TARGET_MS = 100;
const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

let nodeModel: TensorModule | null = null;

/** Writes runs/<resnet20> (config.json and checkpoint.safetensors with the model's tensors); returns its name. */
export function writeResnet20Run(runs: string): string {
  const name = 'resnet20-bench';
  const dir = join(runs, name);
  mkdirSync(dir, { recursive: true });
  const config = {
    model: MODEL,
    data: 'cifar10:/nonexistent',
    input: [3, 32, 32],
    classes: CIFAR_CLASSES,
    normalize: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  withBackend('ref', () => {
    const model = getModel(MODEL).build({ backend: 'ref' });
    nodeModel = model;
    const tensors = new Map<string, Tensor>([...model.stateDict()].map(([k, t]) => [`model.${k}`, t]));
    writeSafetensors(join(dir, 'checkpoint.safetensors'), tensors, {
      format: CHECKPOINT_FORMAT,
      config: JSON.stringify(config),
    });
  });
  return name;
}

/** A 32x32 RGB PNG of a smooth pattern that changes with `seed`. */
async function png(path: string, seed: number): Promise<void> {
  const raw = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + seed * 31 + ((i / 96) | 0) * 5) % 256;
  await sharp(raw, { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toFile(path);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchRunIt(page: Page, url: string, run: string, passes: number): Promise<void> {
  await page.goto(`${url}#/run/${run}`);
  await page.waitForSelector('[data-testid=file]', { timeout: 60_000 });
  const forward: number[] = [];
  const trace: number[] = [];
  const node: number[] = [];
  const image = new Float32Array(3 * 32 * 32).map((_, i) => (i % 17) / 17);
  const dir = join(process.env.TMPDIR ?? '/tmp', `convkit-bench-run-it-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < passes; i++) {
    const file = join(dir, `image-${i}.png`);
    await png(file, i);
    const start = performance.now();
    await withBackend('ref', () => classProbabilities(nodeModel as TensorModule, image, [3, 32, 32]));
    node.push(performance.now() - start);
    await page.evaluate(() => performance.clearMeasures());
    await page.locator('[data-testid=file]').setInputFiles(file);
    const measured = await page.waitForFunction(
      () => {
        const f = performance.getEntriesByName('convkit:run-it-forward').at(-1);
        const t = performance.getEntriesByName('convkit:run-it-trace').at(-1);
        return f && t ? [f.duration, t.duration] : null;
      },
      undefined,
      { timeout: 60_000 },
    );
    const [f, t] = (await measured.jsonValue()) as [number, number];
    forward.push(f);
    trace.push(t);
  }
  // The first pass compiles the kernels (JIT): reported apart from the steady passes.
  const steady = forward.slice(1);
  const verdict = median(steady) <= TARGET_MS ? 'met' : 'MISSED';
  console.log(`\nRun it: ${MODEL}, one 3x32x32 image, ref backend in chromium, ${passes} passes`);
  console.log(
    `  forward (fused, as convkit predict): first ${forward[0].toFixed(1)} ms, then ${steady.map((t) => t.toFixed(0)).join(', ')} ms`,
  );
  console.log(
    `  median ${median(steady).toFixed(1)} ms, min ${Math.min(...steady).toFixed(1)} ms; target ${TARGET_MS} ms ${verdict}`,
  );
  console.log(
    `  the same forward in Node (ref backend), just before each: median ${median(node.slice(1)).toFixed(1)} ms`,
  );
  console.log(`  traced pass keeping every layer's output (the maps): median ${median(trace.slice(1)).toFixed(1)} ms`);
}
