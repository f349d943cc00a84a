/**
 * The explorer's receptive-field view in chromium: for CIFAR ResNet-20 and GoogLeNet at 64x64,
 * the theoretical field shown equals the analysis API's, the effective field the page computes
 * with convkit's engine in a worker is non-zero at the unit's centre and exactly zero outside the
 * theoretical field, it is computed again when the unit or layer changes, a local picture is
 * decoded, and axe finds no serious violation. Screenshots in out/explorer-e2e/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import type { ReceptiveField } from '../../src/analysis/receptive-field.js';
import { formatFieldJump, formatFieldSize } from '../../src/cli/format/numbers.js';
import {
  assertAccessible,
  chromiumPath,
  ensurePageBuilt,
  launchChromium,
  startExplorer,
} from '../helpers/explorer-browser.js';

const SHOTS = fileURLToPath(new URL('../../out/explorer-e2e/', import.meta.url));
const chromium = chromiumPath();
const skip = 'missing' in chromium ? chromium.missing : false;

interface Layer {
  index: number;
  path: string;
  outputShape: number[];
  receptiveField: ReceptiveField | null;
}

/** What the page exposes for tests once it has drawn an effective field (rf-view.tsx's ShownField). */
interface Shown {
  model: string;
  side: number;
  path: string;
  call: number;
  unit: [number, number];
  picture: string;
  gradient: number[];
}

let browser: Browser;
let page: Page;
let server: { url: string; close: () => Promise<void> };

async function layerOf(model: string, side: number, path: string): Promise<Layer> {
  const r = await fetch(new URL(`api/models/${model}/summary?input=3x${side}x${side}`, server.url));
  assert.equal(r.status, 200);
  const layer = ((await r.json()) as { layers: Layer[] }).layers.find((l) => l.path === path);
  assert.ok(layer?.receptiveField, `${model} has a layer ${path} with a field`);
  return layer;
}

/** The pixels [first, last] per axis that unit (y, x) sees in the image, from the analysis's size, jump and start. */
function expectedPixels(f: ReceptiveField, unit: readonly [number, number], side: number): [number, number][] {
  return [0, 1].map((a) => {
    const centre = f.start[a] + unit[a] * f.jump[a];
    return [
      Math.max(0, Math.ceil(centre - (f.size[a] - 1) / 2)),
      Math.min(side - 1, Math.floor(centre + (f.size[a] - 1) / 2)),
    ];
  });
}

/** Waits for the effective field of (call, unit) and returns what the page drew. */
async function shownField(call: number, unit: readonly [number, number], picture: string): Promise<Shown> {
  await page.waitForSelector(
    `[data-testid=rf-figure][data-state=done][data-call="${call}"][data-unit="${unit.join(',')}"][data-picture="${picture}"]`,
    { timeout: 20_000 },
  );
  // The page exposes the field in an effect that runs after the render that set data-state: wait
  // for it too, or a loaded machine reads the previous unit's gradient.
  await page.waitForFunction(
    ([c, u, p]) => {
      const s = (globalThis as unknown as { convkitField?: Shown }).convkitField;
      return s !== undefined && s.call === c && [...s.unit].join(',') === u && s.picture === p;
    },
    [call, unit.join(','), picture] as const,
    { timeout: 20_000 },
  );
  return page.evaluate(() => {
    const s = (globalThis as unknown as { convkitField: Shown & { gradient: Float32Array } }).convkitField;
    return { ...s, unit: [...s.unit] as [number, number], gradient: Array.from(s.gradient) };
  });
}

/** The page's numbers and drawing equal the analysis; the gradient lives inside the field and at its centre. */
async function checkField(
  model: string,
  side: number,
  path: string,
  unit: [number, number],
  picture = 'the built-in scene',
): Promise<Shown> {
  const layer = await layerOf(model, side, path);
  const f = layer.receptiveField as ReceptiveField;
  const shown = await shownField(layer.index, unit, picture);
  assert.deepEqual([shown.model, shown.side, shown.path, shown.picture], [model, side, path, picture]);
  const theory = page.locator('[data-testid=rf-theory]');
  assert.equal(await theory.locator('[data-field=size]').textContent(), formatFieldSize(f));
  assert.equal(await theory.locator('[data-field=jump]').textContent(), formatFieldJump(f));
  assert.equal(await theory.getAttribute('data-size'), f.size.join(','));
  const [[y0, y1], [x0, x1]] = expectedPixels(f, unit, side);
  const seen = theory.locator('[data-field=unit-field]');
  assert.deepEqual(
    [await seen.getAttribute('data-rows'), await seen.getAttribute('data-cols')],
    [`${y0},${y1}`, `${x0},${x1}`],
  );
  const rect = page.locator('[data-testid=rf-rect]');
  const attr = async (a: string): Promise<number> => Number(await rect.getAttribute(a));
  assert.deepEqual(
    [await attr('y'), await attr('x'), await attr('height'), await attr('width')],
    [y0, x0, y1 - y0 + 1, x1 - x0 + 1],
    'the rectangle drawn is the clipped field',
  );
  const g = shown.gradient;
  assert.equal(g.length, side * side);
  const centre = f.start.map((s, a) => Math.round(s + unit[a] * f.jump[a]));
  assert.ok(g[centre[0] * side + centre[1]] > 0, `the gradient at the unit's centre ${centre} is not zero`);
  const outside: string[] = [];
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      if ((y < y0 || y > y1 || x < x0 || x > x1) && g[y * side + x] !== 0) outside.push(`(${y}, ${x})`);
  assert.deepEqual(outside.slice(0, 5), [], 'no gradient outside the theoretical field');
  // The field is not larger than the dependency: each border of the field inside the image carries gradient.
  const row = (y: number): number[] => g.slice(y * side + x0, y * side + x1 + 1);
  const col = (x: number): number[] => Array.from({ length: y1 - y0 + 1 }, (_, i) => g[(y0 + i) * side + x]);
  for (const [what, values] of [
    ['first row', row(y0)],
    ['last row', row(y1)],
    ['first column', col(x0)],
    ['last column', col(x1)],
  ] as const)
    assert.ok(
      values.some((v) => v > 0),
      `${model} ${path} unit ${unit}: gradient on the field's ${what}`,
    );
  assert.equal(await page.locator('[data-testid=rf-effective] [data-field=outside]').textContent(), '0');
  assert.match(
    (await page.locator('[data-testid=rf-effective] [data-field=time]').textContent()) ?? '',
    /^\d+\.\d\d s /,
  );
  return shown;
}

describe('receptive-field view in chromium', { skip }, () => {
  before(async () => {
    ensurePageBuilt();
    mkdirSync(SHOTS, { recursive: true });
    server = await startExplorer('runs');
    browser = await launchChromium((chromium as { path: string }).path);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('resnet20_cifar: the analysis field, a gradient inside it only, recomputed for another unit and layer', async () => {
    await page.goto(`${server.url}#/field/resnet20_cifar?layer=layer1.1&unit=3,27`);
    const first = await checkField('resnet20_cifar', 32, 'layer1.1', [3, 27]);
    await assertAccessible(page, 'receptive field');
    await page.screenshot({ path: join(SHOTS, 'field-resnet20.png') });

    // A click on the output grid's cell (10, 12) picks that unit (the grid is 32x32 cells).
    const grid = page.locator('[data-testid=rf-grid]');
    const box = await grid.boundingBox();
    assert.ok(box);
    await page.mouse.click(box.x + (12.5 * box.width) / 32, box.y + (10.5 * box.height) / 32);
    const second = await checkField('resnet20_cifar', 32, 'layer1.1', [10, 12]);
    assert.notDeepEqual(second.gradient, first.gradient);

    await page.selectOption('select[name=layer]', 'layer2.0');
    const layer = await layerOf('resnet20_cifar', 32, 'layer2.0');
    await checkField('resnet20_cifar', 32, 'layer2.0', [layer.outputShape[2] >> 1, layer.outputShape[3] >> 1]);
    await page.fill('input[name=unit-row]', '1');
    await page.press('input[name=unit-row]', 'Enter');
    await checkField('resnet20_cifar', 32, 'layer2.0', [1, layer.outputShape[3] >> 1]);
  });

  it('googlenet at 64x64: a field that reaches into the padding; a local picture', async () => {
    await page.goto(`${server.url}#/field/googlenet?size=64&layer=inception3a&unit=1,6`);
    const synthetic = await checkField('googlenet', 64, 'inception3a', [1, 6]);
    // docs/images/explorer-receptive-field.png is a copy of this one.
    await page.screenshot({ path: join(SHOTS, 'field-googlenet.png'), clip: { x: 0, y: 0, width: 1400, height: 660 } });
    // A picture chosen by the reader is decoded in the page; the field is computed again on it.
    const png = await sharp({ create: { width: 80, height: 60, channels: 3, background: '#3366cc' } })
      .composite([
        { input: Buffer.from('<svg width="80" height="60"><circle cx="40" cy="30" r="20" fill="#fff"/></svg>') },
      ])
      .png()
      .toBuffer();
    await page.setInputFiles('input[name=picture]', { name: 'disc.png', mimeType: 'image/png', buffer: png });
    const decoded = await checkField('googlenet', 64, 'inception3a', [1, 6], 'disc.png');
    assert.notDeepEqual(decoded.gradient, synthetic.gradient, 'another picture, other ReLU and pooling paths');
  });
});
