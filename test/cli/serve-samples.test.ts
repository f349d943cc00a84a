/**
 * The explorer's samples route (src/cli/serve-samples.ts) over real HTTP: a run's first test
 * images are the bytes of its IDX file scaled to [0, 1], with their labels and class names; a bad
 * count, a run without config.json, data that cannot be read and images of another shape are
 * refused with their statuses.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../src/cli/serve.js';
import { CLI_ZOO } from '../../src/cli/program.js';
import { writeTinyIdx } from './train-helpers.js';

const SIDE = 8;
let server: { url: string; close: () => Promise<void> };
let data: string;

function writeRun(runs: string, name: string, config: object | null): void {
  mkdirSync(join(runs, name));
  if (config) writeFileSync(join(runs, name, 'config.json'), JSON.stringify(config));
  else writeFileSync(join(runs, name, 'metrics.jsonl'), '');
}

const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const r = await fetch(new URL(path, server.url));
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

describe('GET /api/runs/<run>/samples', () => {
  before(async () => {
    data = writeTinyIdx({ train: 6, test: 5, side: SIDE });
    const runs = mkdtempSync(join(tmpdir(), 'convkit-serve-samples-'));
    const classes = ['row', 'column', 'diagonal'];
    const config = { model: 'tiny_cnn', data: `idx:${data}`, input: [1, SIDE, SIDE], classes };
    writeRun(runs, 'tiny', config);
    writeRun(runs, 'no-config', null);
    writeRun(runs, 'gone-data', { ...config, data: `idx:${join(data, 'missing')}` });
    writeRun(runs, 'other-shape', { ...config, input: [1, SIDE + 1, SIDE + 1] });
    server = await startServer(CLI_ZOO, { port: 0, host: '127.0.0.1', runs });
  });
  after(() => server?.close());

  it("gives the first test images as the IDX file's bytes / 255, with labels and class names", async () => {
    const { status, body } = await get('api/runs/tiny/samples?count=3');
    assert.equal(status, 200);
    const bytes = readFileSync(join(data, 't10k-images-idx3-ubyte')).subarray(16);
    const labels = readFileSync(join(data, 't10k-labels-idx1-ubyte')).subarray(8);
    const samples = body.samples as { index: number; label: number; class: string; pixels: number[] }[];
    assert.deepEqual(body.input, [1, SIDE, SIDE]);
    assert.equal(samples.length, 3);
    samples.forEach((s, n) => {
      assert.equal(s.index, n);
      assert.equal(s.label, labels[n]);
      assert.equal(s.class, ['row', 'column', 'diagonal'][labels[n]]);
      const plane = SIDE * SIDE;
      assert.deepEqual(
        s.pixels,
        Array.from(bytes.subarray(n * plane, (n + 1) * plane), (b) => Math.fround(b / 255)),
      );
    });
    assert.equal(((await get('api/runs/tiny/samples')).body.samples as unknown[]).length, 5, 'all 5 (default 8)');
  });

  it('refuses a bad count, a run without config.json, unreadable data and images of another shape', async () => {
    for (const count of ['0', '65', 'x']) {
      const r = await get(`api/runs/tiny/samples?count=${count}`);
      assert.equal(r.status, 400, count);
      assert.match(String(r.body.error), /count/);
    }
    const none = await get('api/runs/no-config/samples');
    assert.equal(none.status, 404);
    assert.match(String(none.body.error), /config\.json/);
    assert.equal((await get('api/runs/nobody/samples')).status, 404);
    const gone = await get('api/runs/gone-data/samples');
    assert.equal(gone.status, 400);
    assert.match(String(gone.body.error), /missing/);
    const shape = await get('api/runs/other-shape/samples');
    assert.equal(shape.status, 409);
    assert.match(String(shape.body.error), /1x9x9/);
  });
});
