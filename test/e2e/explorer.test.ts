/**
 * The explorer in a real browser (Debian's chromium through playwright-core): every view for
 * AlexNet's two towers, GoogLeNet, ResNet-50 and DenseNet-121, the numbers shown checked against
 * the server's analysis API and `convkit calc`, blocks folded and unfolded, an accessibility check
 * (axe) on each view, and screenshots in out/explorer-e2e/.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { calcDense, calcStack } from '../../src/cli/calc.js';
import { formatCount } from '../../src/cli/format/numbers.js';
import { getModel } from '../../src/models/registry.js';
import { CLI_ZOO } from '../../src/cli/program.js';
import { startServer } from '../../src/cli/serve.js';
import { writeReport } from '../../src/experiments/report.js';
import { metricsLine, RUN_ROWS, TINY_REPORT } from './explorer-fixtures.js';
import {
  assertAccessible as assertPageAccessible,
  chromiumPath,
  ensurePageBuilt,
  launchChromium,
} from '../helpers/explorer-browser.js';

const SHOTS = fileURLToPath(new URL('../../out/explorer-e2e/', import.meta.url));
const chromium = chromiumPath();
const skip = 'missing' in chromium ? chromium.missing : false;

interface Summary {
  totals: { params: number; macs: number };
  layers: { index: number; path: string; params: number; ownParams: number; isLeaf: boolean; depth: number }[];
}

let browser: Browser;
let page: Page;
let server: { url: string; close: () => Promise<void> };
let runsDir: string;
let experiments: string;

/** The points Vega draws on the run's curves. */
const POINTS = '.chart g.mark-symbol.role-mark path';

const api = async <T>(path: string): Promise<T> => {
  const r = await fetch(new URL(path, server.url));
  assert.equal(r.status, 200, path);
  return (await r.json()) as T;
};

async function open(hash: string): Promise<void> {
  await page.goto(`${server.url}${hash}`);
  await page.waitForSelector('main section');
}

const assertAccessible = (what: string): Promise<void> => assertPageAccessible(page, what);
const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
/** A locator's text (Playwright's textContent, not the DOM's innerText). */
const textOf = async (l: Locator): Promise<string> => ((await l.textContent()) ?? '').trim();
const text = (selector: string): Promise<string> => textOf(page.locator(selector).first());

describe('convkit explorer in chromium', { skip }, () => {
  before(async () => {
    ensurePageBuilt();
    mkdirSync(SHOTS, { recursive: true });
    const runs = mkdtempSync(join(tmpdir(), 'convkit-explorer-runs-'));
    experiments = mkdtempSync(join(tmpdir(), 'convkit-explorer-experiments-'));
    runsDir = runs;
    mkdirSync(join(runs, 'resnet20-cifar10'));
    writeFileSync(
      join(runs, 'resnet20-cifar10', 'config.json'),
      JSON.stringify({ model: 'resnet20_cifar', epochs: 12 }),
    );
    writeFileSync(join(runs, 'resnet20-cifar10', 'metrics.jsonl'), RUN_ROWS.slice(0, 8).map(metricsLine).join(''));
    // A section with a markdown table and a tag of its own, which the page must show as text.
    await writeReport(join(experiments, 'tiny'), {
      ...TINY_REPORT,
      sections: [{ heading: 'Sizes', body: '| model | size |\n|---|--:|\n| small | 2 |\n\n<b>raw</b>' }],
    });
    server = await startServer(CLI_ZOO, { port: 0, host: '127.0.0.1', runs, experiments });
    browser = await launchChromium((chromium as { path: string }).path);
    // axe needs a page of a context made by newContext().
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('zoo: every model with the API numbers, the efficiency chart, the family filter', async () => {
    await open('#/zoo');
    const models = await api<{ name: string }[]>('api/models');
    assert.equal(await page.locator('[data-testid=zoo-table] tbody tr').count(), models.length);
    for (const name of ['alexnet_paper', 'googlenet', 'resnet50', 'densenet121']) {
      const s = await api<Summary>(`api/models/${name}/summary`);
      const row = page.locator(`tr[data-model="${name}"]`);
      assert.equal(await textOf(row.locator('[data-field=params]')), formatCount(s.totals.params), name);
      assert.equal(await textOf(row.locator('[data-field=macs]')), formatCount(s.totals.macs), name);
    }
    assert.ok((await page.locator('.chart svg .mark-symbol path').count()) > 10, 'the chart draws a point per model');
    await assertAccessible('zoo');
    await shot('zoo');
    await page.selectOption('[data-testid=family]', 'densenet');
    const families = await page.locator('[data-testid=zoo-table] tbody tr td:nth-child(2)').allInnerTexts();
    assert.deepEqual([...new Set(families)], ['densenet']);
  });

  for (const name of ['alexnet_paper', 'googlenet', 'resnet50', 'densenet121']) {
    it(`model view of ${name}: totals and table rows as the API gives them, accessible`, async () => {
      await open(`#/model/${name}`);
      const s = await api<Summary>(`api/models/${name}/summary?depth=3`);
      assert.equal(await text('[data-testid=totals] [data-field=params]'), formatCount(s.totals.params));
      assert.equal(await text('[data-testid=totals] [data-field=macs]'), formatCount(s.totals.macs));
      const rows = page.locator('[data-testid=layer-table] tbody tr');
      assert.equal(await rows.count(), s.layers.length);
      // The same params cell rule as `convkit summary`: subtree counts where the row's children are hidden.
      const cells = await rows.locator('[data-field=params]').allInnerTexts();
      cells.forEach((cell, i) => {
        const l = s.layers[i];
        const n = l.isLeaf || l.depth >= 3 ? l.params : l.ownParams;
        if (cell !== '(recursive)') assert.equal(cell, n > 0 ? formatCount(n) : '--', `${name} ${l.path}`);
      });
      // Every node but input and output shows parameters, MACs, receptive field and memory; every edge a shape.
      const nodes = await page.locator('[data-testid=graph] g.node').allTextContents();
      assert.ok(nodes.length >= 5);
      for (const t of nodes.filter((t) => !/^(input|output)/.test(t)))
        assert.match(t, /\d+(\.\d+)?[KMG]? params · \d+(\.\d+)?[KMG]? MACs.*RF \d+\*? \/ \d+ · \d+\.\d\d MB/, t);
      const edges = await page.locator('[data-testid=graph] g.edge title').allTextContents();
      assert.ok(edges.length > 0 && edges.every((t) => /^\d+(×\d+)+$/.test(t)), edges.join(' '));
      await assertAccessible(`model ${name}`);
      await shot(`model-${name}`);
    });
  }

  it('folds and unfolds blocks: an Inception module, a bottleneck, a dense block, AlexNet towers', async () => {
    const nodes = () => page.locator('[data-testid=graph] g.node').count();
    const unfold = async (title: string): Promise<void> => {
      await page.locator(`[data-testid=graph] g[data-action=unfold][data-title="${title}"]`).click();
    };
    await open('#/model/googlenet');
    const before3a = await nodes();
    await unfold('inception3a');
    assert.ok((await nodes()) > before3a + 4, 'inception3a shows its branches');
    assert.equal(await page.locator('[data-testid=graph] g.node', { hasText: /^concat/ }).count(), 1);
    const fold3a = page.locator('[data-testid=graph] [data-action=fold][data-title="inception3a"]');
    // The README's screenshot (docs/images/explorer-model.png is a copy of this one), on a screen
    // wide enough for the whole layer table beside the unfolded module.
    await page.setViewportSize({ width: 1920, height: 1000 });
    await fold3a.evaluate((el) => {
      const pane = el.closest('.graph-pane') as unknown as { scrollTop: number };
      const box = (el as unknown as { getBBox(): { x: number; y: number } }).getBBox();
      pane.scrollTop = box.y - 320;
      (pane as unknown as { scrollLeft: number }).scrollLeft = box.x - 16;
      el.ownerDocument.defaultView?.scrollTo(0, 0);
    });
    await shot('model-googlenet-inception3a');
    await page.setViewportSize({ width: 1600, height: 1000 });
    await fold3a.click();
    assert.equal(await nodes(), before3a);

    await open('#/model/resnet50');
    await unfold('layer1.0');
    const add = page.locator('[data-testid=graph] g.node', { hasText: /^add/ });
    assert.equal(await add.count(), 1, 'the residual sum appears');
    assert.match((await add.textContent()) ?? '', /1×256×56×56/);
    await shot('model-resnet50-unfolded');

    await open('#/model/densenet121');
    await unfold('features.denseblock1');
    const layers = page.locator(
      '[data-testid=graph] g[data-action=unfold][data-title^="features.denseblock1.denselayer"]',
    );
    assert.equal(await layers.count(), 6);
    // Everything unfolded (DenseNet-121: over 400 nodes and 900 edges): a node per layer, every edge drawn.
    await page.getByRole('button', { name: 'unfold all' }).click();
    await page.waitForFunction("document.querySelectorAll('[data-testid=graph] g[data-action=unfold]').length === 0");
    const dense = await api<Summary>('api/models/densenet121/summary');
    const leaves = dense.layers.filter((l) => l.isLeaf).length;
    assert.equal(await page.locator('[data-testid=graph] g.node[data-call]').count(), leaves);
    const points = await page
      .locator('[data-testid=graph] g.edge polyline')
      .evaluateAll((ps) => ps.map((p) => p.getAttribute('points') ?? ''));
    assert.ok(points.length > 900, `${points.length} edges`);
    for (const p of points) assert.match(p, /^-?\d+(\.\d+)?,-?\d+(\.\d+)?( -?\d+(\.\d+)?,-?\d+(\.\d+)?)+$/, p);

    await open('#/model/alexnet_paper');
    const conv = await api<Summary>('api/models/alexnet_paper/summary');
    const features4 = conv.layers.find((l) => l.path === 'features.4');
    await page.locator('[data-testid=graph] g[data-action=towers][data-title="features.4"]').click();
    const towers = page.locator('[data-testid=graph] g.node[data-title^="features.4 tower"]');
    assert.equal(await towers.count(), 2);
    const tower = (await towers.first().textContent()) ?? '';
    assert.match(tower, /1×128×27×27/);
    assert.ok(features4 && tower.includes(`${(features4.params / 2 / 1e3).toFixed(1)}K params`), tower);
  });

  it('recomputes in the page for another input and batch', async () => {
    await open('#/model/resnet50?input=3x160x160&batch=4');
    const s = await api<Summary>('api/models/resnet50/summary?input=3x160x160&batch=4');
    assert.equal(await text('[data-testid=totals] [data-field=macs]'), formatCount(s.totals.macs));
    await page.fill('input[name=input]', '3x-2x9');
    await page.press('input[name=input]', 'Enter');
    assert.match(await text('[role=alert]'), /input: expected channels x height x width/);
  });

  it('compares the paper AlexNet with torchvision and marks the differences', async () => {
    await open('#/compare/alexnet_paper/alexnet');
    const [a, b] = await Promise.all([
      api<Summary>('api/models/alexnet_paper/summary'),
      api<Summary>('api/models/alexnet/summary'),
    ]);
    const totals = await textOf(page.locator('[data-testid=compare-totals] tr', { hasText: 'parameters' }));
    assert.ok(totals.includes(formatCount(a.totals.params)) && totals.includes(formatCount(b.totals.params)));
    // The paper's conv1 has 96 filters, torchvision's 64: that row differs; the two flatten rows agree.
    assert.equal(await page.locator('tr[data-path="features.0"]').getAttribute('data-status'), 'differs');
    assert.equal(await page.locator('tr[data-path="flatten"]').getAttribute('data-status'), 'same');
    assert.ok((await page.locator('td.differs').count()) > 5);
    await assertAccessible('compare');
    await shot('compare');
  });

  it('calculators give the numbers of convkit calc', async () => {
    await open('#/calc');
    const stack = page.locator('[data-calc=stack]');
    await stack.locator('input[name=count]').fill('3');
    await stack.locator('input[name=channels]').fill('512');
    const expected = JSON.parse(calcStack({ kernel: 3, count: 3, channels: 512, format: 'json' })) as {
      stacked: { params: number };
      single: { params: number };
    };
    assert.equal(await textOf(stack.locator('[data-field="stacked.params"]')), formatCount(expected.stacked.params));
    assert.equal(await textOf(stack.locator('[data-field="single.params"]')), formatCount(expected.single.params));
    const dense = page.locator('[data-calc=dense]');
    await dense.locator('input[name=in]').fill('256');
    await dense.locator('input[name=layers]').fill('24');
    const d = JSON.parse(
      calcDense({ in: 256, growth: 32, layers: 24, bottleneck: 4, compression: 0.5, format: 'json' }),
    ) as { outChannels: number; blockParams: number };
    assert.equal(await textOf(dense.locator('[data-field=outChannels]')), formatCount(d.outChannels));
    assert.equal(await textOf(dense.locator('[data-field=blockParams]')), formatCount(d.blockParams));
    await stack.locator('input[name=count]').fill('0');
    assert.match(await textOf(stack.locator('[role=alert]')), /count/);
    await assertAccessible('calculators');
    await shot('calculators');
  });

  it('works as a static export: zoo, model, compare and calculators without the API', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const statik = await context.newPage();
    await statik.route('**/api/**', (route) => route.abort());
    await statik.goto(`${server.url}#/model/densenet121`);
    // torchvision's published count, as the registry records it.
    const published = getModel('densenet121').published.params ?? Number.NaN;
    assert.equal(await textOf(statik.locator('[data-testid=totals] [data-field=params]')), formatCount(published));
    await statik.goto(`${server.url}#/runs`);
    assert.match(await textOf(statik.locator('[role=alert]')), /need the server/);
    await context.close();
  });

  it('runs: the list from --runs, a run with its curves, and an epoch appended while it is open', async () => {
    await open('#/runs');
    await page.locator('a', { hasText: 'resnet20-cifar10' }).click();
    await page.waitForSelector('.chart svg');
    assert.match(await text('main h1'), /Run resnet20-cifar10/);
    await page.waitForSelector('[data-testid=live].live.live');
    assert.match(await text('[data-testid=live]'), /^live/);
    // A point per epoch on each of the four curves (train and test, loss and accuracy).
    const points = page.locator(POINTS);
    await page.waitForFunction(`document.querySelectorAll('${POINTS}').length === 32`);
    appendFileSync(join(runsDir, 'resnet20-cifar10', 'metrics.jsonl'), metricsLine(RUN_ROWS[8]));
    await page.waitForFunction(`document.querySelectorAll('${POINTS}').length === 36`);
    assert.equal(await points.count(), 36);
    assert.match(String(await page.locator('.chart').getAttribute('aria-label')), /9 epochs/);
    assert.match(page.url(), /#\/runs\/resnet20-cifar10$/, 'no reload');
    await assertAccessible('runs');
    // The README's screenshot (docs/images/explorer-runs.png is a copy of this one).
    await page.screenshot({ path: join(SHOTS, 'runs-live.png'), clip: { x: 0, y: 0, width: 960, height: 452 } });
  });

  it('reports: the list with verdicts, and a report with its claims, its markdown as HTML and its chart', async () => {
    await open('#/reports');
    const link = page.locator('main li', { hasText: 'A tiny experiment' });
    assert.match(await textOf(link), /did not hold/);
    await link.locator('a').click();
    await page.waitForSelector('[data-testid=claims]');
    assert.equal(await text('main h1'), 'A tiny experiment');
    const rows = page.locator('[data-testid=claims] tbody tr');
    assert.deepEqual(await rows.locator('td:last-child').allTextContents(), [
      'held',
      'did not hold',
      'not tested in this run',
    ]);
    const article = page.locator('[data-testid=report-markdown]');
    assert.equal(await textOf(article.locator('h3').first()), 'Sizes');
    assert.deepEqual(await article.locator('table th').allTextContents(), ['model', 'size']);
    assert.deepEqual(await article.locator('table td').allTextContents(), ['small', '2']);
    assert.equal(await article.locator('b').count(), 0);
    assert.match(await textOf(article), /<b>raw<\/b>/);
    const img = article.locator('img');
    assert.equal(await img.getAttribute('alt'), 'one bar');
    await page.waitForFunction("document.querySelector('[data-testid=report-markdown] img').naturalWidth > 0");
    await assertAccessible('reports');
  });
});
