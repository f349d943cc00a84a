/**
 * Live metrics of a training run as server-sent events (GET /api/runs/<run>/events): every
 * complete line of the run's metrics.jsonl as an event, then each line as it is appended.
 * `convkit train` rewrites the file atomically each epoch (a new file under the same name), and a
 * run started again truncates it; so each change re-reads the whole file (a few hundred bytes per
 * epoch) and sends either the lines past what was sent or, when what was sent is no longer its
 * beginning, a `reset` event and every line again. fs.watch on the run folder says when to look;
 * a poll every POLL_MS catches what watching misses (network file systems, a watch that failed).
 */
import { existsSync, readFileSync, type FSWatcher, watch } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { HttpError } from './serve-http-error.js';
import { RUN_FILES } from './train-run-folder.js';

/** Streams open at once across all runs; one more is refused with 503. */
export const MAX_EVENT_STREAMS = 16;
/** How often the file is looked at without a watch event. */
export const POLL_MS = 1000;
/** A comment line this often keeps proxies from closing an idle stream and finds clients gone. */
const KEEPALIVE_MS = 15_000;

let openStreams = 0;

/** The complete lines (each ending in a newline) at the start of `text`. */
function completeLines(text: string): string {
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

function readComplete(path: string): string {
  try {
    return existsSync(path) ? completeLines(readFileSync(path, 'utf8')) : '';
  } catch {
    // Read while being replaced: the next look sees the new file.
    return '';
  }
}

/** Answers the event stream of the run in `dir` until the client goes away. */
export function streamRunMetrics(res: ServerResponse, dir: string, head: boolean): void {
  if (openStreams >= MAX_EVENT_STREAMS)
    throw new HttpError(503, `${MAX_EVENT_STREAMS} event streams are open already; close a page and try again`);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  if (head) {
    res.end();
    return;
  }
  openStreams++;
  const path = join(dir, RUN_FILES.metrics);
  let sent = '';
  const send = (event: string, lines: string): void => {
    for (const line of lines.split('\n')) {
      if (line.trim() === '') continue;
      // Only rows that parse: a half-written or foreign line would break the page's chart.
      try {
        JSON.parse(line);
      } catch {
        continue;
      }
      res.write(`event: ${event}\ndata: ${line}\n\n`);
    }
  };
  const look = (): void => {
    const now = readComplete(path);
    if (now === sent) return;
    if (now.startsWith(sent)) send('metrics', now.slice(sent.length));
    else {
      res.write('event: reset\ndata: {}\n\n');
      send('metrics', now);
    }
    sent = now;
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, (_event, name) => {
      if (name === null || name === RUN_FILES.metrics) look();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // The poll below is enough on its own.
  }
  const poll = setInterval(look, POLL_MS);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    openStreams--;
    watcher?.close();
    clearInterval(poll);
    clearInterval(keepalive);
  };
  // Not req's 'close': a GET's request emits it as soon as its (empty) body is read.
  res.on('close', close);
  // The stream's first line tells the browser to reconnect after 2 s if it drops.
  res.write('retry: 2000\n\n');
  look();
}

/** Streams open now (for tests). */
export const openEventStreams = (): number => openStreams;
