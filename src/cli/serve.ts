/**
 * `convkit serve`: the web explorer (docs/explorer.md). Serves the page that `npm run build`
 * bundles into dist/web and the JSON API of serve-http.ts, on 127.0.0.1 unless another host is
 * asked for; `--export DIR` writes the page as static files instead (the zoo, model views and
 * calculators compute everything in the browser, so they work without the server).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { intOption, pathOption, UsageError } from './args.js';
import { checkOutputPath, OutputError, fsReason } from './files.js';
import { createExplorerServer } from './serve-http.js';
import type { Zoo } from './zoo.js';

/** Where `npm run build` puts the page (the same from src/cli and from dist/cli). */
export const PAGE_DIR = fileURLToPath(new URL('../../dist/web', import.meta.url));

export interface ServeOptions {
  port: number;
  host: string;
  runs: string;
  open?: boolean;
  export?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

function requirePage(pageDir: string): void {
  if (!existsSync(`${pageDir}/index.html`))
    throw new UsageError(`serve: the page is not built (${pageDir}/index.html is missing); run 'npm run build'`);
}

/** Copies the built page to `dir`. */
export function exportPage(pageDir: string, dir: string): string {
  requirePage(pageDir);
  checkOutputPath(`${dir}/index.html`, '--export');
  try {
    cpSync(pageDir, dir, { recursive: true });
  } catch (err) {
    throw new OutputError('--export', `cannot write ${dir}: ${fsReason(err)}`);
  }
  // Browsers refuse module scripts from file:// pages, so the folder needs a web server (any static one).
  return `Exported the explorer to ${dir}; serve that folder with any static web server (e.g. python3 -m http.server -d ${dir}).`;
}

/** Starts the server; resolves with its URL once it listens. */
export async function startServer(
  zoo: Zoo,
  o: ServeOptions,
  pageDir = PAGE_DIR,
): Promise<{ url: string; close: () => Promise<void> }> {
  requirePage(pageDir);
  const server = createExplorerServer({ zoo, pageDir, runsDir: o.runs, loopbackOnly: LOOPBACK.has(o.host) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new UsageError(`serve: cannot listen on ${o.host}:${o.port}: ${err.code ?? err.message}`)),
    );
    server.listen(o.port, o.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function registerServe(program: Command, zoo: Zoo, print: (text: string) => void): void {
  program
    .command('serve')
    .description('the web explorer: zoo, model graphs, comparisons and calculators in the browser (docs/explorer.md)')
    .addOption(intOption('--port <n>', 'port to listen on (0: any free port)', { min: 0, max: 65535 }, 8730))
    .option(
      '--host <host>',
      'address to listen on; anything but loopback exposes the explorer to the network',
      '127.0.0.1',
    )
    .addOption(pathOption('--runs <dir>', 'folder of training runs (convkit train --out)', 'runs'))
    .option('--open', 'open the page in the default browser')
    .addOption(pathOption('--export <dir>', 'write the page as static files into DIR instead of serving'))
    .action(async (o: ServeOptions) => {
      if (o.export !== undefined) {
        print(exportPage(PAGE_DIR, o.export));
        return;
      }
      const { url } = await startServer(zoo, o);
      if (!LOOPBACK.has(o.host))
        print(`Warning: listening on ${o.host}: anyone who can reach this machine can read the API.`);
      print(`convkit explorer at ${url} (Ctrl-C stops it)`);
      if (o.open)
        spawn('xdg-open', [url], { stdio: 'ignore', detached: true })
          .on('error', () => {})
          .unref();
    });
}
