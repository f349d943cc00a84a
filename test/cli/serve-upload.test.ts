/**
 * The explorer's one upload, POST /api/runs/<run>/predict, over real HTTP: a PNG of a tiny run's
 * own test image is ranked as `convkit predict` ranks the same file, and every bad upload gets its
 * clear error (unknown run, no checkpoint, wrong method or type, oversized by its declared or
 * streamed length, bytes that are not the declared format or do not decode), while the runs folder
 * stays byte for byte as it was.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { setBackend } from '../../src/backend/registry.js';
import { runPredict } from '../../src/cli/predict.js';
import { CLI_ZOO } from '../../src/cli/program.js';
import { createExplorerServer } from '../../src/cli/serve-http.js';
import { MAX_UPLOAD_BYTES, UPLOAD_TOP } from '../../src/cli/serve-upload.js';
import { runTrain } from '../../src/cli/train.js';
import { loadIdxDataset } from '../../src/data/idx.js';
import { tempDir, trainOptions, writeTinyIdx } from './train-helpers.js';

setBackend('ref');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const runs = tempDir('convkit-serve-upload-');
const images = tempDir('convkit-serve-images-');
let server: ReturnType<typeof createExplorerServer>;
let port = 0;
let png: Buffer;
let pngFile: string;

/**
 * Sends `body` (in `chunks` pieces, chunked when no Content-Length is given) and resolves with
 * the first answer; a server that closes the connection after refusing the rest is fine.
 */
function post(
  path: string,
  opts: { method?: string; type?: string; body?: Buffer; headers?: Record<string, string>; chunks?: number } = {},
): Promise<Reply> {
  const { method = 'POST', type = 'image/png', body = Buffer.alloc(0), chunks = 1 } = opts;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      { host: '127.0.0.1', port, path, method, headers: { 'content-type': type, ...opts.headers } },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    // One piece goes with its Content-Length; several are sent chunked, with no length declared.
    if (chunks === 1) req.end(body);
    else {
      const size = Math.ceil(body.length / chunks);
      for (let at = 0; at < body.length; at += size) req.write(body.subarray(at, at + size));
      req.end();
    }
  });
}

const error = (r: Reply): string => String((JSON.parse(r.body) as { error: string }).error);

/** Every file under `dir` with its bytes, to compare before and after. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(e.parentPath, e.name);
    files.set(path, e.isFile() ? readFileSync(path).toString('base64') : `dir ${statSync(path).mode}`);
  }
  return files;
}

let before0: Map<string, string>;

before(async () => {
  const data = writeTinyIdx({ train: 30, test: 9 });
  await runTrain('tiny_cnn', trainOptions(data, join(runs, 'tiny'), { epochs: 1 }), { out: () => {} });
  mkdirSync(join(runs, 'fresh'));
  writeFileSync(join(runs, 'fresh', 'config.json'), '{}');
  // A run folder that is a symlink to a trained run outside runs/.
  const outside = tempDir('convkit-serve-outside-');
  await runTrain('tiny_cnn', trainOptions(data, join(outside, 'run'), { epochs: 1 }), { out: () => {} });
  symlinkSync(join(outside, 'run'), join(runs, 'escape'));
  // The run's own test image 4 as a PNG (the model's 8x8 greyscale input, so no scaling).
  const test = loadIdxDataset(data, 'test');
  const bytes = Buffer.from(test.inputs.subarray(4 * 64, 5 * 64).map((v) => Math.round(v * 255)));
  png = await sharp(bytes, { raw: { width: 8, height: 8, channels: 1 } })
    .png()
    .toBuffer();
  pngFile = join(images, 'sample.png');
  writeFileSync(pngFile, png);
  before0 = snapshot(runs);
  server = createExplorerServer({ zoo: CLI_ZOO, pageDir: images, runsDir: runs });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('convkit serve: POST /api/runs/<run>/predict', () => {
  it('ranks an uploaded PNG as convkit predict ranks the same file, twice from the loaded model', async () => {
    const [expected] = await runPredict(join(runs, 'tiny'), [pngFile], {
      top: UPLOAD_TOP,
      invert: false,
      format: 'json',
    });
    for (let n = 0; n < 2; n++) {
      const r = await post('/api/runs/tiny/predict', { body: png });
      assert.equal(r.status, 200, r.body);
      const answer = JSON.parse(r.body) as { run: string; input: number[]; top: typeof expected.top };
      assert.equal(answer.run, 'tiny');
      assert.deepEqual(answer.input, [1, 8, 8]);
      assert.equal(answer.top.length, UPLOAD_TOP);
      assert.deepEqual(answer.top, expected.top);
    }
    // A JPEG of another size and colour is scaled as predict scales it.
    const jpeg = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#c81e1e' } })
      .jpeg()
      .toBuffer();
    const jpegFile = join(images, 'red.jpg');
    writeFileSync(jpegFile, jpeg);
    const [red] = await runPredict(join(runs, 'tiny'), [jpegFile], { top: 5, invert: false, format: 'json' });
    const r = await post('/api/runs/tiny/predict', { type: 'image/jpeg', body: jpeg });
    assert.deepEqual((JSON.parse(r.body) as { top: unknown }).top, red.top);
  });

  for (const [what, path, opts, status, message] of [
    ['an unknown run', '/api/runs/nope/predict', {}, 404, /unknown run 'nope'/],
    ['a run escaped by ..', '/api/runs/%2e%2e/predict', {}, 403, /would leave the served folder/],
    ['a run symlinked out of the folder', '/api/runs/escape/predict', {}, 404, /unknown run 'escape'/],
    ['a run without a checkpoint', '/api/runs/fresh/predict', {}, 409, /run 'fresh' has no checkpoint.safetensors/],
    ['another method on the route', '/api/runs/tiny/predict', { method: 'PUT' }, 405, /POST an image/],
    ['a body elsewhere', '/api/runs/tiny', {}, 405, /read-only/],
    [
      'text',
      '/api/runs/tiny/predict',
      { type: 'text/plain' },
      415,
      /image\/png, image\/jpeg, image\/webp, got 'text\/plain'/,
    ],
    ['a form post', '/api/runs/tiny/predict', { type: 'multipart/form-data; boundary=x' }, 415, /got 'multipart/],
    ['an SVG', '/api/runs/tiny/predict', { type: 'image/svg+xml' }, 415, /got 'image\/svg\+xml'/],
    ['an empty body', '/api/runs/tiny/predict', { body: '' }, 400, /body \(0 bytes\) is empty/],
    ['text sent as a PNG', '/api/runs/tiny/predict', { body: 'not an image' }, 400, /starts with 6e6f7420616e2069/],
    ['a PNG sent as a JPEG', '/api/runs/tiny/predict', { type: 'image/jpeg', body: 'png' }, 400, /as an image\/jpeg/],
    ['a truncated PNG', '/api/runs/tiny/predict', { body: 'truncated' }, 422, /cannot be read as an image/],
  ] as const) {
    it(`refuses ${what} (${status})`, async () => {
      const given = 'body' in opts ? opts.body : 'png';
      const body = given === 'png' ? png : given === 'truncated' ? png.subarray(0, 40) : Buffer.from(given);
      const r = await post(path, { ...opts, body });
      assert.equal(r.status, status, r.body);
      assert.match(error(r), message);
      assert.doesNotMatch(error(r), /\n/);
    });
  }

  it('refuses a body over the limit by its Content-Length or as it streams past it (413)', async () => {
    const big = Buffer.alloc(MAX_UPLOAD_BYTES + 1, 0);
    png.copy(big);
    const declared = await post('/api/runs/tiny/predict', { body: big });
    assert.equal(declared.status, 413);
    assert.match(error(declared), new RegExp(`image of ${big.length} bytes; at most ${MAX_UPLOAD_BYTES}`));
    const streamed = await post('/api/runs/tiny/predict', {
      body: big,
      chunks: 64,
    });
    assert.equal(streamed.status, 413);
    assert.match(error(streamed), new RegExp(`passed ${MAX_UPLOAD_BYTES} bytes`));
  });

  it('grants no cross-site preflight, and wrote nothing into the runs folder', async () => {
    const preflight = await post('/api/runs/tiny/predict', {
      method: 'OPTIONS',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 405);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.deepEqual(snapshot(runs), before0);
  });
});
