/**
 * What the explorer's browser tests and benchmark share: Debian's chromium (scripts/setup.sh
 * installs it) driven by playwright-core, the page built when it is missing or older than its
 * sources, the server started on a free loopback port, and the accessibility check.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CLI_ZOO } from '../../src/cli/program.js';
import { PAGE_DIR, startServer } from '../../src/cli/serve.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Debian's chromium, or CONVKIT_CHROMIUM; null (with the reason) when there is none. */
export function chromiumPath(): { path: string } | { missing: string } {
  const path = process.env.CONVKIT_CHROMIUM || '/usr/bin/chromium';
  return existsSync(path)
    ? { path }
    : { missing: `no chromium at ${path} (scripts/setup.sh installs Debian's chromium; or set CONVKIT_CHROMIUM)` };
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/** Builds the page (npm run build:web) when dist/web is missing or older than web/ or src/. */
export function ensurePageBuilt(): void {
  const index = join(PAGE_DIR, 'index.html');
  const sources = Math.max(newest(join(ROOT, 'web')), newest(join(ROOT, 'src')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const r = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build:web failed: ${r.stderr || r.stdout}`);
}

export async function launchChromium(path: string): Promise<Browser> {
  // --no-sandbox: CI and the set-up run as root, where chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: path, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
}

export async function startExplorer(runs: string): Promise<{ url: string; close: () => Promise<void> }> {
  return startServer(CLI_ZOO, { port: 0, host: '127.0.0.1', runs });
}

/** Runs axe on the page; serious and critical violations fail with their ids and targets. */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map(
      (v) =>
        `${v.id}: ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    ),
    [],
    `${what}: accessibility violations`,
  );
}
