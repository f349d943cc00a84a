import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/cli/args.js';
import { runProgram } from '../../src/cli/program.js';
import { convertWeights, type InspectReport, inspectWeights, outputFormat } from '../../src/cli/weights-commands.js';
import { DataFormatError } from '../../src/core/errors.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { bfloat16ToNumber, halfToNumber, numberToBfloat16, numberToHalf } from '../../src/io/elements.js';
import { readPth } from '../../src/io/pth.js';
import { writePth } from '../../src/io/pth-write.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { buildModel } from '../../src/models/registry.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'pth');
const dir = mkdtempSync(join(tmpdir(), 'convkit-wc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<string> {
  const out: string[] = [];
  await runProgram(['node', 'convkit', ...args], (t) => out.push(t));
  return out.join('\n');
}

function sameValues(a: Map<string, Tensor>, b: Map<string, Tensor>): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    assert.deepEqual(b.get(k)!.shape, t.shape, k);
    assert.deepEqual([...b.get(k)!.toArray()], [...t.toArray()], k);
  }
}

describe('convkit convert', () => {
  it('.pth -> .safetensors -> .pt keeps every value; the epoch goes into safetensors metadata', async () => {
    const src = join(GOLDEN, 'nested.pth');
    const st = join(dir, 'nested.safetensors');
    const line = await run('convert', src, st);
    assert.match(line, /wrote .*nested\.safetensors: 9 tensors, 38 values, pth -> safetensors; metadata kept: epoch/);
    const a = readPth(src);
    const b = readSafetensors(st);
    sameValues(a.tensors, b.tensors);
    assert.deepEqual(b.metadata, { epoch: '3' });
    const pt = join(dir, 'sub', 'back.pt');
    assert.match(await run('convert', st, pt), /safetensors -> pth; the metadata \(epoch\) is not kept/);
    const c = readPth(pt);
    sameValues(a.tensors, c.tensors);
    assert.equal(c.dtypes.get('bn.num_batches_tracked'), 'int64');
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
  });

  it('keeps float64 and wide integers exact through float64', () => {
    const out = join(dir, 'tiny.safetensors');
    convertWeights(join(GOLDEN, 'tiny.pth'), out);
    const r = readSafetensors(out, { dtype: 'float64' });
    assert.deepEqual([...r.tensors.get('f64')!.toArray()], [Math.PI, 1e-300, -(2 ** 60)]);
    assert.deepEqual([...r.tensors.get('i64')!.toArray()], [-5, 0, 2 ** 40, -(2 ** 53)]);
    assert.deepEqual([...r.tensors.get('i32')!.toArray()], [-(2 ** 31), 2 ** 31 - 1]);
  });

  it('the format comes from --format or the extension; an unknown extension is a usage error', async () => {
    assert.equal(outputFormat('a.PTH'), 'pth');
    assert.equal(outputFormat('a.ckpt'), 'pth');
    assert.equal(outputFormat('a.bin', 'safetensors'), 'safetensors');
    assert.throws(
      () => outputFormat('a.bin'),
      (e: unknown) => e instanceof UsageError && /--format safetensors\|pth/.test(e.message),
    );
    const out = join(dir, 'weights.bin');
    await run('convert', join(GOLDEN, 'nested.pth'), out, '--format', 'pth');
    assert.equal(readPth(out).tensors.size, 9);
    await assert.rejects(
      run('convert', join(GOLDEN, 'nested.pth'), out, '--format', 'onnx'),
      /--format: expected one of safetensors, pth/,
    );
  });

  it('a hostile input is refused with the file named, and nothing is written', async () => {
    const bad = join(GOLDEN, 'hostile', 'os_system.pth');
    const out = join(dir, 'never.safetensors');
    await assert.rejects(
      run('convert', bad, out),
      (e: unknown) =>
        e instanceof DataFormatError && e.message.startsWith(`${bad}: `) && /posix\.system/.test(e.message),
    );
    assert.ok(!readdirSync(dir).some((n) => n.startsWith('never') || n.startsWith('.never')));
  });
});

describe('--dtype: convert and export in float16 / bfloat16', () => {
  it('convert --dtype f16 and bf16 store every tensor so, num_batches_tracked as int64, values rounded as on write', async () => {
    const src = join(GOLDEN, 'nested.pth');
    const a = readPth(src);
    for (const [choice, st, pt] of [
      ['f16', 'F16', 'float16'],
      ['bf16', 'BF16', 'bfloat16'],
    ] as const) {
      const out = join(dir, `nested-${choice}.safetensors`);
      assert.match(
        await run('convert', src, out, '--dtype', choice),
        new RegExp(`stored as ${st} \\(num_batches_tracked as int64\\)`),
      );
      const b = readSafetensors(out);
      for (const [k, d] of b.dtypes) assert.equal(d, k.endsWith('num_batches_tracked') ? 'I64' : st, k);
      const round =
        st === 'F16'
          ? (v: number) => halfToNumber(numberToHalf(v))
          : (v: number) => bfloat16ToNumber(numberToBfloat16(v));
      for (const [k, t] of a.tensors)
        assert.deepEqual([...b.tensors.get(k)!.toArray()], [...t.toArray()].map(round), k);
      const back = join(dir, `nested-${choice}.pth`);
      await run('convert', out, back, '--dtype', choice);
      assert.equal(readPth(back).dtypes.get('conv.weight'), pt);
    }
    await assert.rejects(run('convert', src, join(dir, 'x.pth'), '--dtype', 'f8'), /--dtype/);
  });

  it('export --format pth|safetensors --dtype bf16 writes the state dict so; ONNX refuses --dtype', async () => {
    const pth = join(dir, 'r20-bf16.pth');
    assert.match(
      await run('export', 'resnet20_cifar', '--format', 'pth', '--dtype', 'bf16', '--out', pth),
      /wrote .*r20-bf16\.pth \(pth, .*as BF16/,
    );
    const r = readPth(pth);
    assert.equal(r.dtypes.get('conv1.weight'), 'bfloat16');
    assert.equal(r.dtypes.get('bn1.num_batches_tracked'), 'int64');
    const st = join(dir, 'r20-f16.safetensors');
    await run('export', 'resnet20_cifar', '--format', 'safetensors', '--dtype', 'f16', '--out', st);
    assert.equal(readSafetensors(st).dtypes.get('conv1.weight'), 'F16');
    await assert.rejects(
      run('export', 'resnet20_cifar', '--format', 'onnx', '--dtype', 'f16', '--out', join(dir, 'r.onnx')),
      (e: unknown) => e instanceof UsageError && /--dtype f16: ONNX export writes float32/.test(e.message),
    );
  });
});

describe('convkit inspect', () => {
  manualSeed(5);
  const model = buildModel('resnet20_cifar');
  const sd = model.stateDict();

  it('lists tensors and finds the model, stripping a DataParallel prefix', async () => {
    const path = join(dir, 'r20.pth');
    writePth(path, new Map([...sd].map(([k, t]) => [`module.${k}`, t])));
    const r = JSON.parse(await run('inspect', path, '--format', 'json', '--top', '2')) as InspectReport;
    assert.equal(r.format, 'pth');
    assert.equal(r.tensors.length, sd.size);
    assert.equal(r.tensors.find((t) => t.name === 'module.bn1.num_batches_tracked')?.dtype, 'int64');
    assert.equal(
      r.parameters,
      model.parameters().reduce((n, p) => n + p.size, 0),
    );
    // ResNet-20's option-A shortcuts have no weights, so plain20_cifar has the very same keys: a tie.
    assert.deepEqual(
      r.fits.map((f) => [f.model, f.prefix, f.score]),
      [
        ['plain20_cifar', 'module.', 1],
        ['resnet20_cifar', 'module.', 1],
      ],
    );
    const text = await run('inspect', path);
    assert.match(text, /^.*r20\.pth: pth\n/);
    assert.match(
      text,
      /fits: plain20_cifar \(after stripping 'module\.'\), resnet20_cifar \(after stripping 'module\.'\)/,
    );
  });

  it('a fine-tuned head shows as the best fit with its shape mismatches', () => {
    const path = join(dir, 'r20-4.safetensors');
    writeSafetensors(path, buildModel('resnet20_cifar', { classes: 4 }).stateDict(), { note: 'four classes' });
    const r = inspectWeights(path);
    assert.deepEqual(
      r.fits.slice(0, 2).map((f) => f.model),
      ['plain20_cifar', 'resnet20_cifar'],
    );
    assert.deepEqual(r.fits[1].missing, []);
    assert.deepEqual(r.fits[1].mismatched, [
      'fc.weight: file [4, 64] vs model [10, 64]',
      'fc.bias: file [4] vs model [10]',
    ]);
    assert.deepEqual(r.metadata, { note: 'four classes' });
  });

  it('a dict that fits no model says so', async () => {
    const text = await run('inspect', join(GOLDEN, 'tiny.pth'));
    assert.match(text, /15 tensors/);
    assert.match(text, /transposed\s+float32\s+\[6, 4\]/);
    assert.match(text, /bf16\s+bfloat16\s+\[6\]/);
    assert.match(text, /fits no zoo model: no key matches any model/);
  });

  it('reads the legacy format; a non-weight file is a one-line error naming the file', async () => {
    const text = await run('inspect', join(GOLDEN, 'legacy.pth'));
    assert.match(text, /legacy\.pth: pth \(the legacy format\)\n9 tensors/);
    const json = join(GOLDEN, 'expected.json');
    assert.ok(readFileSync(json).length > 0);
    await assert.rejects(run('inspect', json), /unknown weight format/);
  });
});
