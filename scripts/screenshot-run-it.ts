/**
 * The README's picture of the explorer's Run it view on a real run: `convkit serve` over the
 * run's parent folder, a test sample picked, a first-conv unit opened, one screenshot.
 * Usage: npx tsx scripts/screenshot-run-it.ts <run-dir> [out.png] (default docs/images/explorer-run-it.png)
 */
import { basename, dirname, resolve } from 'node:path';
import { chromiumPath, ensurePageBuilt, launchChromium, startExplorer } from '../test/helpers/explorer-browser.js';

const [runArg, outArg = 'docs/images/explorer-run-it.png'] = process.argv.slice(2);
if (runArg === undefined) {
  console.error('usage: npx tsx scripts/screenshot-run-it.ts <run-dir> [out.png]');
  process.exit(2);
}
const browserPath = chromiumPath();
if ('missing' in browserPath) {
  console.error(browserPath.missing);
  process.exit(1);
}
const run = resolve(runArg);
ensurePageBuilt();
const server = await startExplorer(dirname(run));
const browser = await launchChromium(browserPath.path);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${server.url}#/run/${encodeURIComponent(basename(run))}`);
  await page.locator('[data-testid=sample]').nth(3).click();
  await page.waitForSelector('[data-testid=top5] tbody tr');
  const map = page.locator('[data-testid=layer-maps] canvas[data-channel="2"]').first();
  const box = await map.boundingBox();
  if (box === null) throw new Error('no activation map drawn');
  await map.click({ position: { x: box.width * 0.55, y: box.height * 0.45 } });
  await page.waitForSelector('[data-testid=unit-detail]');
  await page.screenshot({ path: outArg });
  console.log(`wrote ${outArg}`);
} finally {
  await browser.close();
  await server.close();
}
