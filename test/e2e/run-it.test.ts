/**
 * The explorer's "Run it" view in a real browser (Debian's chromium through playwright-core): a
 * tiny_cnn trained here for one epoch by `convkit train` is run in the page on convkit's reference
 * backend, and what the page shows is checked against convkit in Node on the same image and
 * checkpoint: the top class and its probability (as `convkit predict` computes them), an activation
 * map's pixels, and the arithmetic of a conv, a ReLU and a max-pooling unit (against the layers'
 * inputs and outputs recorded by module tracing in Node); a run trained on resized and cropped
 * images predicts as Node through the run's test transforms. Screenshots go to out/run-it-e2e/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { setBackend } from '../../src/backend/registry.js';
import { loadTrained } from '../../src/cli/eval.js';
import { runTrain } from '../../src/cli/train.js';
import { trainTransforms } from '../../src/cli/train-config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { traceModules } from '../../src/nn/trace-modules.js';
import { fromArray } from '../../src/ops/creation.js';
import { classProbabilities } from '../../src/train/evaluate.js';
import {
  assertAccessible,
  chromiumPath,
  ensurePageBuilt,
  launchChromium,
  startExplorer,
} from '../helpers/explorer-browser.js';
import { tempDir, trainOptions, writeTinyIdx } from '../cli/train-helpers.js';

const SHOTS = fileURLToPath(new URL('../../out/run-it-e2e/', import.meta.url));
const chromium = chromiumPath();
const skip = 'missing' in chromium ? chromium.missing : false;
const SIDE = 16;
const RUN = 'tiny';

setBackend('ref');

let browser: Browser;
let page: Page;
let server: { url: string; close: () => Promise<void> };
let runDir: string;
/** A run trained on the images scaled to 20x20 and cropped to 16x16: its test transforms resize and crop. */
let croppedDir: string;
const CROPPED = 'cropped';

interface Samples {
  samples: { index: number; label: number; pixels: number[] }[];
}

/** What convkit computes in Node for one image: probabilities, and each module's input and output by path. */
async function nodePass(pixels: Float32Array, dir = runDir) {
  const { model, config } = loadTrained(dir, {});
  // As convkit predict: the run's test transforms, then the model.
  const transform = trainTransforms(config).test;
  const input = transform.apply(pixels, 1, config.input, new Generator(0));
  const shape = transform.outShape(config.input);
  const p = await classProbabilities(model, input, shape);
  const modules = new Map<string, { input: Float32Array; output: Float32Array; shape: readonly number[] }>();
  const inputs = new Map<unknown, Float32Array>();
  noGrad(() =>
    traceModules(
      {
        enter: (m, x) => inputs.set(m, Float32Array.from((x as Tensor).toArray())),
        exit: (m, y) => {
          const out = y as Tensor;
          modules.set(m.path, {
            input: inputs.get(m) as Float32Array,
            output: Float32Array.from(out.toArray()),
            shape: out.shape,
          });
        },
      },
      () => model.call(fromArray(input, [1, ...shape])),
    ),
  );
  return { p, modules, config };
}

const best = (p: ArrayLike<number>): number => Array.from(p).reduce((b, v, i, a) => (v > a[b] ? i : b), 0);

/** Checks the top-5 table shows Node's most probable class and its probability. */
async function assertTop1(p: ArrayLike<number>, classes: readonly string[]): Promise<void> {
  const row = page.locator('[data-testid=top5] tbody tr').first();
  await row.waitFor();
  const label = best(p);
  assert.equal(Number(await row.getAttribute('data-label')), label);
  assert.ok(Math.abs(Number(await row.getAttribute('data-probability')) - p[label]) < 1e-6);
  assert.equal(await row.locator('td').first().textContent(), classes[label]);
  assert.equal(await row.locator('td').nth(1).textContent(), `${(100 * p[label]).toFixed(2)}%`);
}

/** Clicks the unit (y, x) of channel `c` on the map of the layer at `path`, and reads the detail view's numbers. */
async function pickUnit(path: string, c: number, y: number, x: number, [h, w]: [number, number]) {
  const map = page.locator(`[data-testid=layer-maps][data-path="${path}"] canvas[data-channel="${c}"]`).first();
  const box = await map.boundingBox();
  assert.ok(box, `map of ${path}`);
  await map.click({ position: { x: ((x + 0.5) * box.width) / w, y: ((y + 0.5) * box.height) / h } });
  await page.waitForSelector('[data-testid=unit-detail]');
  const num = async (id: string): Promise<number> =>
    Number(await page.locator(`[data-testid=unit-detail] [data-testid=${id}]`).getAttribute('data-value'));
  return { num, heading: (await page.locator('[data-testid=unit-detail] h2').textContent()) ?? '' };
}

describe('convkit explorer: Run it in chromium', { skip }, () => {
  before(async () => {
    ensurePageBuilt();
    mkdirSync(SHOTS, { recursive: true });
    const data = writeTinyIdx({ train: 30, test: 8, side: SIDE });
    const runs = tempDir('convkit-run-it-');
    runDir = join(runs, RUN);
    await runTrain('tiny_cnn', trainOptions(data, runDir, { epochs: 1 }), { out: () => {} });
    croppedDir = join(runs, CROPPED);
    const cropped = trainOptions(data, croppedDir, { epochs: 1, imageSize: 20, cropSize: 16 });
    await runTrain('tiny_cnn', cropped, { out: () => {} });
    server = await startExplorer(runs);
    browser = await launchChromium((chromium as { path: string }).path);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a test sample: the prediction, a map and the units of a conv, a ReLU and a max pool as convkit in Node', async () => {
    await page.goto(`${server.url}#/run/${RUN}`);
    const samples = (await (await fetch(`${server.url}api/runs/${RUN}/samples?count=8`)).json()) as Samples;
    assert.equal(samples.samples.length, 8);
    await page.locator('[data-testid=sample]').nth(2).click();
    const { p, modules, config } = await nodePass(Float32Array.from(samples.samples[2].pixels));
    await assertTop1(p, config.classes);

    // The map of channel 3 after the stem's ReLU, grey from the layer's min to its max.
    const relu = modules.get('stem.1') as { output: Float32Array; input: Float32Array };
    const lo = Math.min(...relu.output);
    const hi = Math.max(...relu.output);
    // Runs in the page (this file is type-checked without the DOM library).
    type Canvas = {
      width: number;
      height: number;
      getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
    };
    const drawn = await page
      .locator('[data-path="stem.1"] canvas[data-channel="3"]')
      .first()
      .evaluate((el) => {
        const c = el as unknown as Canvas;
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
      });
    const plane = SIDE * SIDE;
    assert.equal(drawn.length, 4 * plane);
    for (let i = 0; i < plane; i++) {
      const expected = Math.round((255 * (relu.output[3 * plane + i] - lo)) / (hi - lo));
      assert.ok(Math.abs(drawn[4 * i] - expected) <= 1, `pixel ${i}: ${drawn[4 * i]} against ${expected}`);
    }
    await page.screenshot({ path: join(SHOTS, 'sample-maps.png'), fullPage: true });

    // A conv unit (the residual body's first conv, bias folded into no bias: conv + BN): Σ products = output.
    const conv = modules.get('residual.body.0.0') as { output: Float32Array; input: Float32Array };
    const half = SIDE / 2; // after the stem's 2x2 max pool
    const at = (c: number, y: number, x: number): number => (c * half + y) * half + x;
    let u = await pickUnit('residual.body.0.0', 5, 2, 6, [half, half]);
    assert.match(u.heading, /residual\.body\.0\.0 conv2d: channel 5, row 2, column 6/);
    assert.ok(Math.abs((await u.num('unit-output')) - conv.output[at(5, 2, 6)]) < 1e-6);
    assert.ok(Math.abs((await u.num('unit-sum')) - conv.output[at(5, 2, 6)]) < 1e-5);
    assert.ok(Math.abs((await u.num('unit-value')) - conv.output[at(5, 2, 6)]) < 1e-5);
    // The first window's centre is the conv's input at the unit's own position (3x3, padding 1).
    const centre = page
      .locator('[data-testid=unit-detail] .windows figure')
      .first()
      .locator('table')
      .first()
      .locator('tr')
      .nth(1);
    assert.equal(await centre.locator('td').nth(1).getAttribute('title'), String(conv.input[at(0, 2, 6)]));
    await page.screenshot({ path: join(SHOTS, 'unit-conv.png') });

    // A ReLU unit and a max-pooling unit.
    u = await pickUnit('stem.1', 3, 4, 9, [SIDE, SIDE]);
    const i = (3 * SIDE + 4) * SIDE + 9;
    assert.equal(await u.num('unit-input'), relu.input[i]);
    assert.equal(await u.num('unit-value'), Math.max(0, relu.input[i]));
    const pool = modules.get('stem.2') as { output: Float32Array; input: Float32Array };
    u = await pickUnit('stem.2', 1, 3, 5, [half, half]);
    const window = [0, 1].flatMap((dy) => [0, 1].map((dx) => relu.output[(1 * SIDE + 6 + dy) * SIDE + 10 + dx]));
    assert.equal(await u.num('unit-value'), Math.max(...window));
    assert.equal(await u.num('unit-value'), pool.output[at(1, 3, 5)]);

    await assertAccessible(page, 'run it with a unit open');
  });

  it('an image file decoded in the page and a drawing give predictions; the file as convkit in Node', async () => {
    const samples = (await (await fetch(`${server.url}api/runs/${RUN}/samples?count=4`)).json()) as Samples;
    const pixels = Float32Array.from(samples.samples[1].pixels);
    // 8-bit grey PNG of the sample at the model's size: the browser decodes it to the same pixels.
    const file = join(mkdtempSync(join(tmpdir(), 'convkit-run-it-png-')), 'sample.png');
    await sharp(Buffer.from(pixels.map((v) => Math.round(v * 255))), {
      raw: { width: SIDE, height: SIDE, channels: 1 },
    })
      .png()
      .toFile(file);
    await page.locator('[data-testid=file]').setInputFiles(file);
    await page.waitForSelector('[data-testid=top5] caption:has-text("sample.png")');
    const { p, config } = await nodePass(pixels.map((v) => Math.round(v * 255) / 255));
    await assertTop1(p, config.classes);

    await page.locator('[data-testid=pad]').scrollIntoViewIfNeeded();
    const pad = await page.locator('[data-testid=pad]').boundingBox();
    assert.ok(pad);
    await page.mouse.move(pad.x + 40, pad.y + 40);
    await page.mouse.down();
    await page.mouse.move(pad.x + pad.width - 20, pad.y + pad.height - 20, { steps: 8 });
    await page.mouse.up();
    await page.waitForSelector('[data-testid=top5] caption:has-text("drawing")');
    assert.equal(await page.locator('[data-testid=top5] tbody tr').count(), 5);
    await page.screenshot({ path: join(SHOTS, 'drawing.png'), fullPage: true });
  });

  it("a run trained on resized and cropped images: the page applies the run's test transforms as Node", async () => {
    await page.goto(`${server.url}#/run/${CROPPED}`);
    const samples = (await (await fetch(`${server.url}api/runs/${CROPPED}/samples?count=2`)).json()) as Samples;
    await page.locator('[data-testid=sample]').nth(1).click();
    const { p, config, modules } = await nodePass(Float32Array.from(samples.samples[1].pixels), croppedDir);
    assert.deepEqual(config.images?.resize, 20, 'the run resized its images');
    await assertTop1(p, config.classes);
    // The first conv sees the 16x16 centre crop of the 20x20 resize, as in Node.
    const conv = modules.get('stem.0.0') as { shape: readonly number[] };
    assert.deepEqual(conv.shape, [1, 8, 16, 16]);
    const heading = await page.locator('[data-testid=layer-maps][data-path="stem.0.0"] h4').first().textContent();
    assert.match(heading ?? '', /8×16×16/);
  });
});
