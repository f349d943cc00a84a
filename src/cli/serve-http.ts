/**
 * The explorer's HTTP server: the built page (dist/web) and a small JSON API over the zoo,
 * summaries, training runs (their metrics also live, as server-sent events) and experiment
 * reports, which writes nothing. GET and HEAD only, and no request bodies, but for one image
 * POSTed to a run's model (serve-upload.ts); short URLs; every path is decoded once, refused if a
 * segment could leave its folder, and checked again after the file system resolved it (a symlink
 * out of the folder is refused too). Errors are JSON `{ "error": "..." }` under /api and plain
 * text elsewhere, one line each.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { publishedResult } from '../analysis/zoo.js';
import { ConvkitError } from '../core/errors.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { MODEL_LIMITS } from './analysis-commands.js';
import { parseInputShape, parseInteger, requireExact } from './args.js';
import { streamRunMetrics } from './serve-events.js';
import { fileInside, HttpError } from './serve-http-error.js';
import { reportsApi } from './serve-reports.js';
import { runSamples } from './serve-samples.js';
import { predictUpload } from './serve-upload.js';
import { summaryCommand } from './summary.js';
import { RUN_FILES } from './train-run-folder.js';
import type { Zoo } from './zoo.js';

/** Longest request target accepted (the page's own URLs are far shorter). */
export const MAX_URL_LENGTH = 2048;
/** Largest request head Node accepts before answering 431. */
export const MAX_HEADER_BYTES = 8192;

export interface ExplorerServerOptions {
  zoo: Zoo;
  /** The built page (index.html and assets/). */
  pageDir: string;
  /** Training runs (each a folder written by `convkit train`); may not exist yet. */
  runsDir: string;
  /** Experiment report folders (`convkit experiment --out`); may not exist. */
  experimentsDir?: string;
  /**
   * Answer only requests addressed to a loopback name (Host: localhost, 127.0.0.1 or [::1], any
   * port): a web page elsewhere that rebinds its own name to 127.0.0.1 cannot read the API. On by
   * default; `convkit serve --host` turns it off for other addresses.
   */
  loopbackOnly?: boolean;
}

const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ico': 'image/x-icon',
};

/** The request target's path as decoded segments; refuses malformed escapes and segments that leave a folder. */
export function pathSegments(target: string): string[] {
  const path = target.split('?')[0];
  if (!path.startsWith('/')) throw new HttpError(400, `request target must start with '/', got ${path.slice(0, 40)}`);
  return path
    .split('/')
    .filter((s) => s !== '')
    .map((raw) => {
      let s: string;
      try {
        s = decodeURIComponent(raw);
      } catch {
        throw new HttpError(400, `malformed percent-encoding in the path segment '${raw.slice(0, 40)}'`);
      }
      if (s === '.' || s === '..' || /[/\\\0]/.test(s))
        throw new HttpError(403, `path segment '${raw.slice(0, 40)}' would leave the served folder`);
      return s;
    });
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

/** `untrusted`: a run's or report's file, shown as a document that may run nothing (an SVG could hold a script). */
function sendFile(res: ServerResponse, path: string, head: boolean, untrusted = false): void {
  if (!statSync(path).isFile()) throw new HttpError(404, 'not a file');
  const body = readFileSync(path);
  res.writeHead(200, {
    'content-type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': body.length,
    ...(untrusted ? { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox" } : {}),
  });
  res.end(head ? undefined : body);
}

/** Query parameter `name` as an integer in range, or the fallback. */
function queryInt(query: URLSearchParams, name: string, range: { min: number; max: number }, fallback: number): number {
  const text = query.get(name);
  return text === null ? fallback : parseInteger(name, text, range);
}

/** The run folders under runsDir (those holding a config.json or metrics.jsonl). */
function listRuns(runsDir: string): string[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir, { withFileTypes: true })
    .filter(
      (d) => d.isDirectory() && [RUN_FILES.config, RUN_FILES.metrics].some((f) => existsSync(join(runsDir, d.name, f))),
    )
    .map((d) => d.name)
    .sort();
}

function runDir(opts: ExplorerServerOptions, name: string): string {
  if (!listRuns(opts.runsDir).includes(name)) throw new HttpError(404, `unknown run '${name}' in ${opts.runsDir}`);
  return fileInside(opts.runsDir, [name], 'run');
}

function readJsonl(path: string): unknown[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}

/** A run's file (curves.svg, metrics.jsonl, config.json ...), sent as it is rather than as JSON. */
const isFileAnswer = (v: unknown): v is { sendFile: string } =>
  typeof v === 'object' && v !== null && 'sendFile' in v && typeof v.sendFile === 'string';

/** The API's answer to GET /api/<segments>. */
function api(opts: ExplorerServerOptions, segments: readonly string[], query: URLSearchParams): unknown {
  const [what, name, sub, ...rest] = segments;
  if (what === 'models' && name === undefined)
    return opts.zoo.entries.map((e) => ({
      name: e.name,
      family: e.family,
      layout: e.layout,
      input: e.input,
      classes: e.classes,
      published: e.published,
      result: publishedResult(e),
      idea: e.idea,
    }));
  if (what === 'models' && sub === 'summary' && rest.length === 0) {
    if (!opts.zoo.entries.some((e) => e.name === name)) {
      // The registry's message lists the closest names.
      try {
        opts.zoo.get(name);
      } catch (err) {
        throw new HttpError(404, (err as Error).message);
      }
    }
    const input = query.get('input');
    const text = summaryCommand(opts.zoo, name, {
      input: input === null ? undefined : parseInputShape(input, 'input'),
      batch: queryInt(query, 'batch', MODEL_LIMITS.batch, 1),
      // Every row unless asked: no zoo model nests deeper than the limit.
      depth: queryInt(query, 'depth', MODEL_LIMITS.depth, MODEL_LIMITS.depth.max),
      format: 'json',
      optimizer: 'sgd-momentum',
    });
    return JSON.parse(text) as unknown;
  }
  if (what === 'runs' && name === undefined) return listRuns(opts.runsDir).map((run) => ({ name: run }));
  if (what === 'runs' && sub === undefined) {
    const dir = runDir(opts, name);
    const config = existsSync(join(dir, RUN_FILES.config))
      ? JSON.parse(readFileSync(join(dir, RUN_FILES.config), 'utf8'))
      : null;
    return { name, config, metrics: readJsonl(join(dir, RUN_FILES.metrics)), files: readdirSync(dir).sort() };
  }
  if (what === 'runs' && sub === 'weights' && rest.length === 0) {
    const file = fileInside(runDir(opts, name), [RUN_FILES.checkpoint], 'checkpoint');
    const header = readSafetensorsHeader(file);
    return { run: name, tensors: header.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })) };
  }
  if (what === 'reports') return reportsApi(opts.experimentsDir ?? 'experiments', name, segments.slice(2));
  if (what === 'runs' && sub === 'files' && rest.length === 1) {
    const file = fileInside(runDir(opts, name), rest, 'file');
    return { sendFile: file };
  }
  throw new HttpError(404, `no API route /api/${segments.join('/')} (see docs/explorer.md)`);
}

/** The one route that takes a body: POST /api/runs/<run>/predict. */
const isPredictRoute = (segments: readonly string[]): boolean =>
  segments.length === 4 && segments[0] === 'api' && segments[1] === 'runs' && segments[3] === 'predict';

/** Sends `err` as its status: JSON `{ error }` under /api, one plain line elsewhere. */
function sendError(res: ServerResponse, err: unknown, isApi: boolean, head: boolean): void {
  const status = err instanceof HttpError ? err.status : err instanceof ConvkitError ? 400 : 500;
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  if (isApi) sendJson(res, status, { error: message }, head);
  else {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(head ? undefined : `${status}: ${message}\n`);
  }
}

/** Serves the page and the API; `listen` it on a port. */
export function createExplorerServer(opts: ExplorerServerOptions): Server {
  /** Answers a request; true when an upload took over its body (read or drained there). */
  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const target = req.url ?? '/';
    const isApi = target.startsWith('/api/') || target === '/api';
    const head = req.method === 'HEAD';
    try {
      res.setHeader('x-content-type-options', 'nosniff');
      if ((opts.loopbackOnly ?? true) && !LOOPBACK_HOST.test(req.headers.host ?? ''))
        throw new HttpError(
          403,
          `host '${(req.headers.host ?? '').slice(0, 60)}' is not a loopback name; open the explorer at 127.0.0.1 or localhost`,
        );
      if (target.length > MAX_URL_LENGTH)
        throw new HttpError(414, `request target of ${target.length} characters; at most ${MAX_URL_LENGTH}`);
      const segments = pathSegments(target);
      if (isPredictRoute(segments)) {
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          throw new HttpError(405, `method ${req.method} not allowed; POST an image to ${target.split('?')[0]}`);
        }
        predictUpload(
          req,
          res,
          segments[2],
          (run) => runDir(opts, run),
          (status, value) => sendJson(res, status, value, false),
        ).catch((err: unknown) => sendError(res, err, true, false));
        return true;
      }
      if (req.method !== 'GET' && !head) {
        res.setHeader('allow', 'GET, HEAD');
        throw new HttpError(405, `method ${req.method} not allowed; the explorer is read-only (GET, HEAD)`);
      }
      if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined)
        throw new HttpError(413, 'request bodies are not accepted');
      const query = new URLSearchParams(target.includes('?') ? target.slice(target.indexOf('?') + 1) : '');
      if (segments[0] === 'api' && segments[1] === 'runs' && segments[3] === 'events' && segments.length === 4) {
        streamRunMetrics(res, runDir(opts, segments[2]), head);
        return false;
      }
      if (segments[0] === 'api' && segments[1] === 'runs' && segments[3] === 'samples' && segments.length === 4) {
        runSamples(runDir(opts, segments[2]), segments[2], query).then(
          (value) => sendJson(res, 200, value, head),
          (err: unknown) => sendError(res, err, true, head),
        );
        return false;
      }
      if (segments[0] === 'api') {
        const value = api(opts, segments.slice(1), query);
        if (isFileAnswer(value)) sendFile(res, value.sendFile, head, true);
        else {
          requireExact(value, target);
          sendJson(res, 200, value, head);
        }
        return false;
      }
      const file = fileInside(opts.pageDir, segments.length === 0 ? ['index.html'] : segments, 'file');
      sendFile(res, statSync(file).isDirectory() ? fileInside(file, ['index.html'], 'file') : file, head);
    } catch (err) {
      sendError(res, err, isApi, head);
    }
    return false;
  };
  return createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    // A body sent anyway is not read; drop it so the socket closes cleanly.
    if (!handle(req, res)) req.resume();
  });
}
