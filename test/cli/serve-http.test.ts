/**
 * The explorer's server over real HTTP on a loopback port: the page and the API answer, and every
 * request that could leave the served folders (.., encoded variants, backslashes, symlinks out),
 * names an unknown run or model, or is malformed or oversized gets a clear HTTP error.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { summarizeEntry } from '../../src/analysis/zoo.js';
import { zeros } from '../../src/ops/creation.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { getModel, MODELS } from '../../src/models/registry.js';
import { CLI_ZOO } from '../../src/cli/program.js';
import { exportPage } from '../../src/cli/serve.js';
import { createExplorerServer, MAX_URL_LENGTH } from '../../src/cli/serve-http.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let base: { port: number };
let server: ReturnType<typeof createExplorerServer>;
const root = mkdtempSync(join(tmpdir(), 'convkit-serve-'));
const page = join(root, 'page');
const runs = join(root, 'runs');

/** Sends the request target verbatim (fetch would normalise `..` away before it left). */
function get(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: base.port, path, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (r: Reply): Record<string, unknown> => JSON.parse(r.body) as Record<string, unknown>;

before(async () => {
  mkdirSync(join(page, 'assets'), { recursive: true });
  writeFileSync(join(page, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(page, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(root, 'secret.txt'), 'outside');
  symlinkSync(join(root, 'secret.txt'), join(page, 'link-out.txt'));
  mkdirSync(join(runs, 'r1'), { recursive: true });
  writeFileSync(join(runs, 'r1', 'config.json'), JSON.stringify({ model: 'resnet20_cifar', epochs: 2 }));
  writeFileSync(
    join(runs, 'r1', 'metrics.jsonl'),
    '{"epoch":1,"train_loss":2,"train_acc":0.3,"test_loss":1.9,"test_acc":0.35}\n',
  );
  writeSafetensors(join(runs, 'r1', 'checkpoint.safetensors'), new Map([['fc.weight', zeros([3, 2])]]));
  symlinkSync(join(root, 'secret.txt'), join(runs, 'r1', 'link-out.txt'));
  // A run folder that is a symlink to a folder outside runs/.
  mkdirSync(join(root, 'elsewhere'));
  writeFileSync(join(root, 'elsewhere', 'config.json'), '{}');
  symlinkSync(join(root, 'elsewhere'), join(runs, 'escape'));
  server = createExplorerServer({ zoo: CLI_ZOO, pageDir: page, runsDir: runs });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = { port: (server.address() as AddressInfo).port };
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('convkit serve: the page', () => {
  it('serves index.html at / and files under the page folder with their type', async () => {
    const index = await get('/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /text\/html/);
    assert.match(index.body, /<title>t<\/title>/);
    const js = await get('/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.equal((await get('/', { method: 'HEAD' })).body, '');
  });

  for (const [what, path, status] of [
    ['.. segment', '/../secret.txt', 403],
    ['.. after a folder', '/assets/../../secret.txt', 403],
    ['percent-encoded dots', '/%2e%2e/secret.txt', 403],
    ['upper-case encoding', '/%2E%2E/secret.txt', 403],
    ['an encoded slash', '/assets/..%2f..%2fsecret.txt', 403],
    ['an encoded backslash', '/..%5csecret.txt', 403],
    ['a NUL byte', '/index.html%00.js', 403],
    ['a symlink out of the folder', '/link-out.txt', 403],
    ['malformed percent-encoding', '/%E0%A4%A', 400],
    ['a missing file', '/nope.js', 404],
  ] as const) {
    it(`refuses ${what} (${status})`, async () => {
      const r = await get(path);
      assert.equal(r.status, status, r.body);
      assert.doesNotMatch(r.body, /outside$/m);
      assert.match(r.body, new RegExp(`^${status}: serve: \\S`));
    });
  }

  it('refuses requests addressed to another name (a DNS rebinding page) while on loopback', async () => {
    const r = await get('/api/models', { headers: { host: 'attacker.example:8730' } });
    assert.equal(r.status, 403);
    assert.match(String(json(r).error), /host 'attacker.example:8730' is not a loopback name/);
    assert.equal((await get('/', { headers: { host: 'localhost:8730' } })).status, 200);
  });

  it('sends a run file as a document that may run nothing', async () => {
    const r = await get('/api/runs/r1/files/config.json');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'.*sandbox/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });

  it('refuses other methods (405, with Allow), bodies (413), long targets (414) and large heads (431)', async () => {
    const post = await get('/', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await get('/', { headers: { 'content-length': '5' }, body: 'hello' })).status, 413);
    const long = await get(`/${'a'.repeat(MAX_URL_LENGTH)}`);
    assert.equal(long.status, 414);
    assert.match(long.body, /at most 2048/);
    assert.equal((await get('/', { headers: { 'x-big': 'b'.repeat(10_000) } })).status, 431);
  });

  it('--export copies the page and refuses an unbuilt one', () => {
    const out = join(root, 'export');
    assert.match(exportPage(page, out), /Exported the explorer/);
    assert.throws(() => exportPage(join(root, 'no-page'), join(root, 'x')), /the page is not built .*npm run build/);
  });
});

describe('convkit serve: the API', () => {
  it('lists every registry model with its published numbers', async () => {
    const r = await get('/api/models');
    assert.equal(r.status, 200);
    const models = JSON.parse(r.body) as { name: string; published: { params?: number } }[];
    assert.deepEqual(
      models.map((m) => m.name),
      MODELS.map((m) => m.name),
    );
    assert.equal(models.find((m) => m.name === 'resnet50')?.published.params, getModel('resnet50').published.params);
  });

  it('summarises a model at the input and batch asked for, as convkit summary --format json', async () => {
    const r = await get('/api/models/resnet18/summary?input=3x64x64&batch=2');
    assert.equal(r.status, 200);
    const s = json(r) as { schema: string; totals: { params: number; macs: number }; input: number[] };
    const expected = summarizeEntry(getModel('resnet18'), { input: [3, 64, 64], batch: 2 });
    assert.equal(s.schema, 'convkit.summary/1');
    assert.deepEqual(s.input, [2, 3, 64, 64]);
    assert.equal(s.totals.params, expected.totals.params);
    assert.equal(s.totals.macs, expected.totals.macs);
  });

  it('refuses unknown models (404, with the closest names), bad inputs and batches (400), unknown routes (404)', async () => {
    const unknown = await get('/api/models/resnt50/summary');
    assert.equal(unknown.status, 404);
    assert.match(String(json(unknown).error), /unknown model 'resnt50'; closest: resnet50/);
    const bad = await get('/api/models/resnet18/summary?input=3x-1x64');
    assert.equal(bad.status, 400);
    assert.match(String(json(bad).error), /^input: expected channels x height x width/);
    assert.equal((await get('/api/models/resnet18/summary?batch=0')).status, 400);
    const route = await get('/api/nothing');
    assert.equal(route.status, 404);
    assert.match(String(json(route).error), /no API route \/api\/nothing/);
  });

  it('lists runs, reads one run and its checkpoint tensors', async () => {
    assert.deepEqual(json(await get('/api/runs')), [{ name: 'r1' }] as unknown as Record<string, unknown>);
    const run = json(await get('/api/runs/r1')) as { metrics: { epoch: number }[]; files: string[] };
    assert.equal(run.metrics[0].epoch, 1);
    assert.ok(run.files.includes('checkpoint.safetensors'));
    const weights = json(await get('/api/runs/r1/weights')) as { tensors: { name: string; shape: number[] }[] };
    assert.deepEqual(weights.tensors, [{ name: 'fc.weight', dtype: 'F32', shape: [3, 2] }]);
    const file = await get('/api/runs/r1/files/metrics.jsonl');
    assert.equal(file.status, 200);
    assert.match(file.body, /"test_acc":0.35/);
  });

  it('refuses unknown runs, a run symlinked out of the folder and paths out of it', async () => {
    for (const path of ['/api/runs/nope', '/api/runs/escape', '/api/runs/secret.txt/weights']) {
      const r = await get(path);
      assert.equal(r.status, 404, path);
      assert.match(String(json(r).error), /unknown run/);
    }
    const link = await get('/api/runs/r1/files/link-out.txt');
    assert.equal(link.status, 403, link.body);
    assert.match(String(json(link).error), /resolves outside the served folder/);
    assert.equal((await get('/api/runs/r1/files/nope.md')).status, 404);
    for (const path of [
      '/api/runs/..',
      '/api/runs/%2e%2e/weights',
      '/api/runs/r1%2f..%2f..',
      '/api/runs/r1/files/..%2f..%2fsecret.txt',
      '/api/runs/r1/files/%2e%2e',
    ]) {
      const r = await get(path);
      assert.equal(r.status, 403, path);
      assert.match(String(json(r).error), /would leave the served folder/);
    }
  });
});
