/**
 * The explorer server's live run metrics (server-sent events) and experiment reports over real
 * HTTP: a line appended to metrics.jsonl arrives as an event, a rewrite that drops lines resets
 * the stream, a closed client frees its stream, streams are bounded; reports written by
 * writeReport are listed with their verdicts and their files served with the path checks.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_ZOO } from '../../src/cli/program.js';
import { MAX_EVENT_STREAMS, openEventStreams } from '../../src/cli/serve-events.js';
import { createExplorerServer } from '../../src/cli/serve-http.js';
import { REPORT_FILES, writeReport } from '../../src/experiments/report.js';
import { metricsLine, RUN_ROWS, TINY_REPORT } from '../e2e/explorer-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'convkit-serve-live-'));
const runs = join(root, 'runs');
const experiments = join(root, 'experiments');
let server: ReturnType<typeof createExplorerServer>;
let port: number;

const row = (epoch: number) => RUN_ROWS[epoch - 1];
const line = (epoch: number): string => metricsLine(row(epoch));

/** A GET whose body is read to the end. */
function get(path: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** An open event stream: its parsed events so far, and a wait for the n-th. */
interface Stream {
  req: ClientRequest;
  res: IncomingMessage;
  events: { event: string; data: string }[];
  waitFor(n: number): Promise<void>;
}

function openStream(run: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/api/runs/${run}/events` }, (res) => {
      const events: Stream['events'] = [];
      let buffer = '';
      let wake = (): void => {};
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) events.push({ event, data });
          end = buffer.indexOf('\n\n');
        }
        wake();
      });
      const waitFor = (n: number): Promise<void> =>
        new Promise((done, fail) => {
          const timer = setTimeout(() => fail(new Error(`${events.length} events, waited for ${n}`)), 5000);
          wake = () => {
            if (events.length >= n) {
              clearTimeout(timer);
              done();
            }
          };
          wake();
        });
      resolve({ req, res, events, waitFor });
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(what: string, test: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !test(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(test(), what);
}

before(async () => {
  mkdirSync(join(runs, 'live'), { recursive: true });
  writeFileSync(join(runs, 'live', 'metrics.jsonl'), line(1));
  writeFileSync(join(root, 'secret.txt'), 'outside');
  await writeReport(join(experiments, 'tiny'), TINY_REPORT);
  symlinkSync(join(root, 'secret.txt'), join(experiments, 'tiny', 'link-out.svg'));
  server = createExplorerServer({ zoo: CLI_ZOO, pageDir: root, runsDir: runs, experimentsDir: experiments });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);

describe('convkit serve: live run metrics', () => {
  it('sends the rows so far, then a line appended to metrics.jsonl, and a reset when the file is rewritten shorter', async () => {
    const s = await openStream('live');
    assert.equal(s.res.statusCode, 200);
    assert.match(String(s.res.headers['content-type']), /^text\/event-stream/);
    await s.waitFor(1);
    assert.deepEqual(JSON.parse(s.events[0].data), row(1));
    // A half-written line waits for its newline.
    appendFileSync(join(runs, 'live', 'metrics.jsonl'), line(2).slice(0, 10));
    appendFileSync(join(runs, 'live', 'metrics.jsonl'), line(2).slice(10));
    await s.waitFor(2);
    assert.deepEqual(s.events[1], { event: 'metrics', data: line(2).trim() });
    // convkit train starting again: the file replaced by one with a single, different row.
    writeFileSync(join(runs, 'live', `metrics.jsonl.tmp`), line(7));
    renameSync(join(runs, 'live', 'metrics.jsonl.tmp'), join(runs, 'live', 'metrics.jsonl'));
    await s.waitFor(4);
    assert.deepEqual(
      s.events.slice(2).map((e) => e.event),
      ['reset', 'metrics'],
    );
    assert.deepEqual(JSON.parse(s.events[3].data), row(7));
    s.req.destroy();
    await until('the stream is closed after its client went', () => openEventStreams() === 0);
  });

  it('refuses an unknown run (404) and more than MAX_EVENT_STREAMS streams at once (503)', async () => {
    const unknown = await get('/api/runs/nope/events');
    assert.equal(unknown.status, 404);
    assert.match(JSON.parse(unknown.body).error, /unknown run 'nope'/);
    assert.equal((await get('/api/runs/%2e%2e/events')).status, 403);
    const open = await Promise.all(Array.from({ length: MAX_EVENT_STREAMS }, () => openStream('live')));
    const refused = await get('/api/runs/live/events');
    assert.equal(refused.status, 503);
    assert.match(JSON.parse(refused.body).error, /16 event streams are open already/);
    for (const s of open) s.req.destroy();
    await until('every stream is closed', () => openEventStreams() === 0);
  });
});

describe('convkit serve: experiment reports', () => {
  it('lists the reports with their verdicts and reads one with its claims, charts and markdown', async () => {
    const list = await get('/api/reports');
    assert.deepEqual(JSON.parse(list.body), [
      { name: 'tiny', title: 'A tiny experiment', verdict: false, date: JSON.parse(list.body)[0].date },
    ]);
    const report = JSON.parse((await get('/api/reports/tiny')).body);
    assert.deepEqual(
      report.claims.map((c: { id: string; held: boolean | null }) => [c.id, c.held]),
      [
        ['small', true],
        ['large', false],
        ['later', null],
      ],
    );
    assert.deepEqual(report.charts, [{ file: 'bar.svg', caption: 'one bar' }]);
    assert.match(report.markdown, /## Verdict\n\n- \*\*small\*\*: held in this run/);
    assert.ok(report.files.includes(REPORT_FILES.markdown));
    const svg = await get('/api/reports/tiny/files/bar.svg');
    assert.equal(svg.status, 200);
    assert.equal(svg.headers['content-type'], 'image/svg+xml');
    assert.match(String(svg.headers['content-security-policy']), /default-src 'none'.*sandbox/);
    assert.match(svg.body, /^<svg/);
  });

  it('refuses unknown reports, symlinks out of a report and paths that leave the folder', async () => {
    const unknown = await get('/api/reports/nope');
    assert.equal(unknown.status, 404);
    assert.match(JSON.parse(unknown.body).error, /unknown experiment report 'nope'/);
    assert.equal((await get('/api/reports/tiny/files/link-out.svg')).status, 403);
    assert.equal((await get('/api/reports/tiny/files/nope.svg')).status, 404);
    for (const path of [
      '/api/reports/..',
      '/api/reports/tiny/files/..%2f..%2fsecret.txt',
      '/api/reports/%2e%2e/files/x',
    ])
      assert.equal((await get(path)).status, 403, path);
  });
});
