/**
 * How long the explorer's model view takes in chromium: from the moment the page starts analysing
 * a model (building it on the meta backend, the summary, the dataflow trace) through the
 * layout to the SVG drawn by Preact, for DenseNet-121 and a few others at fresh input sizes (so
 * nothing is cached), then with one large block unfolded (DenseNet-121's third dense block), then
 * with every block unfolded (from the default folds). Target: DenseNet-121 within 1 s. Then the
 * "Run it" view (bench-explorer-run-it.ts): a ResNet-20 forward pass for one 32x32 image in the
 * page on the reference backend, target 100 ms.
 * Usage: npx tsx scripts/bench-explorer.ts [--models densenet121,resnet50] [--repeats 3]
 * [--passes 10] [--only models|run-it] (npm run bench:explorer)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { chromiumPath, ensurePageBuilt, launchChromium, startExplorer } from '../test/helpers/explorer-browser.js';
import { benchRunIt, writeResnet20Run } from './bench-explorer-run-it.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'densenet121,resnet50,googlenet' },
    repeats: { type: 'string', default: '3' },
    passes: { type: 'string', default: '10' },
    only: { type: 'string' },
  },
});
const models = values.only === 'run-it' ? [] : (values.models ?? '').split(',').filter((m) => m !== '');
const repeats = Math.max(1, Number(values.repeats) || 3);
const TARGET_MS = { densenet121: 1000 } as Record<string, number>;

/** Runs `act` (a click that refolds the graph) and waits for the view's measure of the new layout drawn. */
async function relaidOut(page: Page, act: () => Promise<void>): Promise<{ ms: number; nodes: number; edges: number }> {
  await page.evaluate(() => performance.clearMeasures('convkit:model-view'));
  await act();
  const ms = await page.waitForFunction(
    () => performance.getEntriesByName('convkit:model-view').at(-1)?.duration,
    undefined,
    { timeout: 120_000 },
  );
  return {
    ms: Number(await ms.jsonValue()),
    nodes: await page.locator('[data-testid=graph] g.node').count(),
    edges: await page.locator('[data-testid=graph] g.edge').count(),
  };
}

const chromium = chromiumPath();
if ('missing' in chromium) {
  console.error(`bench-explorer: ${chromium.missing}`);
  process.exit(1);
}
ensurePageBuilt();
const runs = mkdtempSync(join(tmpdir(), 'convkit-bench-runs-'));
const run = values.only === 'models' ? null : writeResnet20Run(runs);
const server = await startExplorer(runs);
const browser = await launchChromium(chromium.path);
try {
  const page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
  await page.goto(`${server.url}#/calc`);
  await page.waitForSelector('main section');
  if (models.length > 0) console.log('model          input        nodes  ms (each run)            median  target');
  for (const model of models) {
    const times: number[] = [];
    let nodes = 0;
    for (let i = 0; i < repeats; i++) {
      // A side never used before: the page has nothing cached for it.
      const input = `3x${224 + i + 1}x${224 + i + 1}`;
      await page.evaluate(() => performance.clearMeasures('convkit:model-view'));
      await page.evaluate((hash) => {
        // Runs in the page (this file is type-checked without the DOM library).
        (globalThis as unknown as { location: { hash: string } }).location.hash = hash;
      }, `#/model/${model}?input=${input}`);
      const ms = await page.waitForFunction(
        () => performance.getEntriesByName('convkit:model-view').at(-1)?.duration,
        undefined,
        { timeout: 60_000 },
      );
      times.push(Number(await ms.jsonValue()));
      nodes = await page.locator('[data-testid=graph] g.node').count();
    }
    // A large unfolded block: DenseNet's third dense block (24 layers, 341 edges), else the largest one.
    const blocks = page.locator('[data-testid=graph] g[data-action=unfold]');
    const titles = await blocks.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-title') ?? ''));
    const block = titles.includes('features.denseblock3') ? 'features.denseblock3' : titles[0];
    const one =
      block === undefined
        ? null
        : await relaidOut(page, () =>
            page.locator(`[data-testid=graph] g[data-action=unfold][data-title="${block}"]`).click(),
          );
    // Then every block at once (DenseNet-121: 429 nodes, 963 edges), from the default folds.
    await relaidOut(page, () => page.getByRole('button', { name: 'default folds' }).click());
    const all = await relaidOut(page, () => page.getByRole('button', { name: 'unfold all' }).click());
    const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
    const target = TARGET_MS[model];
    const verdict = target === undefined ? '' : `${target} ms ${median <= target ? 'met' : 'MISSED'}`;
    console.log(
      `${model.padEnd(14)} 3x~225x225  ${String(nodes).padStart(5)}  ${times
        .map((t) => t.toFixed(0))
        .join(', ')
        .padEnd(24)} ${median.toFixed(0).padStart(6)}  ${verdict}`,
    );
    if (one) console.log(`  ${block} unfolded: ${one.nodes} nodes, ${one.ms.toFixed(0)} ms (layout and draw only)`);
    console.log(
      `  all unfolded: ${all.nodes} nodes, ${all.edges} edges, ${all.ms.toFixed(0)} ms (layout and draw only)`,
    );
  }
  if (run !== null) await benchRunIt(page, server.url, run, Math.max(2, Number(values.passes) || 10));
} finally {
  await browser.close();
  await server.close();
}
