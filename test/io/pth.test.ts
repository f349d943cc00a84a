import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DataFormatError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { detectWeightsFormat, loadWeights } from '../../src/io/load-weights.js';
import { openPth, readPth } from '../../src/io/pth.js';
import { encodePth, writePth } from '../../src/io/pth-write.js';
import { openZip, writeStoredZip } from '../../src/io/zip.js';
import { buildModel } from '../../src/models/registry.js';
import { BatchNorm2d } from '../../src/nn/batch-norm2d.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Flatten } from '../../src/nn/flatten.js';
import { Linear } from '../../src/nn/linear.js';
import { fromArray, randn, uniform } from '../../src/ops/creation.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'pth');
const dir = mkdtempSync(join(tmpdir(), 'convkit-pth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const expected = JSON.parse(readFileSync(join(GOLDEN, 'expected.json'), 'utf-8')) as Record<
  'tiny' | 'nested',
  Record<string, Expected>
>;

const num = (v: number | string): number =>
  v === 'nan'
    ? Number.NaN
    : v === 'inf'
      ? Number.POSITIVE_INFINITY
      : v === '-inf'
        ? Number.NEGATIVE_INFINITY
        : Number(v);

function same(actual: ArrayLike<number>, values: readonly number[], what: string): void {
  assert.equal(actual.length, values.length, `${what}: length`);
  for (let i = 0; i < values.length; i++) {
    assert.ok(Object.is(actual[i], values[i]), `${what}[${i}]: got ${actual[i]}, expected ${values[i]}`);
  }
}

function checkAgainst(
  tensors: Map<string, Tensor>,
  want: Record<string, Expected>,
  dtype: 'float32' | 'float64',
): void {
  assert.deepEqual([...tensors.keys()], Object.keys(want));
  for (const [name, e] of Object.entries(want)) {
    const t = tensors.get(name)!;
    assert.deepEqual(t.shape, e.shape, name);
    const values = e.values.map(num).map((v) => (dtype === 'float32' ? Math.fround(v) : v));
    same(t.toArray(), values, name);
  }
}

let counter = 0;
function file(bytes: Uint8Array, name = `t${counter++}.pth`): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function refused(path: string, pattern: RegExp): void {
  assert.throws(
    () => readPth(path),
    (e: unknown) => {
      assert.ok(e instanceof DataFormatError, `${path}: expected a DataFormatError, got ${String(e)}`);
      assert.ok(e.message.startsWith(`${path}: `), `the error names the file: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

function tinyNet(): Sequential {
  return Sequential.named([
    ['conv', new Conv2d(1, 2, 3)],
    ['bn', new BatchNorm2d(2)],
    ['fc', new Linear(2, 3)],
  ]);
}

describe('readPth: files written by torch.save', () => {
  it('reads every storage dtype, 0-d, empty and strided views (tiny.pth) as float32 and float64', () => {
    const f32 = readPth(join(GOLDEN, 'tiny.pth'));
    checkAgainst(f32.tensors, expected.tiny, 'float32');
    assert.equal(f32.dtypes.get('bn.num_batches_tracked'), 'int64');
    assert.equal(f32.dtypes.get('bf16'), 'bfloat16');
    assert.deepEqual(f32.statePath, []);
    const f64 = readPth(join(GOLDEN, 'tiny.pth'), { dtype: 'float64' });
    checkAgainst(f64.tensors, expected.tiny, 'float64');
  });

  it('reads a deflate-compressed copy the same', () => {
    const a = readPth(join(GOLDEN, 'tiny.pth'));
    const b = readPth(join(GOLDEN, 'deflated.pth'));
    for (const [k, t] of a.tensors) same(b.tensors.get(k)!.toArray(), [...t.toArray()], k);
  });

  it("finds the state dict in {'model', 'optimizer', 'epoch'} and keeps the epoch as metadata", () => {
    const r = readPth(join(GOLDEN, 'nested.pth'));
    assert.deepEqual(r.statePath, ['model']);
    assert.deepEqual(r.metadata, { epoch: '3' });
    checkAgainst(r.tensors, expected.nested, 'float32');
  });

  it("loadWeights reads {'state_dict': ...} with DataParallel's 'module.' prefix into a module", () => {
    const path = join(GOLDEN, 'wrapped.pth');
    assert.equal(detectWeightsFormat(path), 'pth');
    const net = tinyNet();
    const report = loadWeights(net, path);
    assert.equal(report.format, 'pth');
    assert.equal(report.strippedPrefix, 'module.');
    assert.deepEqual(report.metadata, { arch: 'net' });
    const sd = net.stateDict();
    for (const [name, e] of Object.entries(expected.nested)) {
      same(sd.get(name)!.toArray(), e.values.map(num).map(Math.fround), name);
    }
  });

  it('reads the legacy format (_use_new_zipfile_serialization=False): every dtype and strided views, a state dict', () => {
    const tiny = readPth(join(GOLDEN, 'legacy_tiny.pth'));
    checkAgainst(tiny.tensors, expected.tiny, 'float32');
    checkAgainst(readPth(join(GOLDEN, 'legacy_tiny.pth'), { dtype: 'float64' }).tensors, expected.tiny, 'float64');
    assert.equal(openPth(join(GOLDEN, 'legacy_tiny.pth')).layout, 'legacy');
    assert.equal(tiny.dtypes.get('bn.num_batches_tracked'), 'int64');
    checkAgainst(readPth(join(GOLDEN, 'legacy.pth')).tensors, expected.nested, 'float32');
    assert.equal(detectWeightsFormat(join(GOLDEN, 'legacy.pth')), 'pth');
  });
});

describe('readPth: hostile and broken files are refused, nothing executed', () => {
  const cases: [string, RegExp][] = [
    ['os_system.pth', /refuses the global posix\.system.*nothing in the file was executed/],
    ['eval.pth', /refuses the global __builtin__\.eval/],
    ['eval_protocol4.pth', /refuses the global builtins\.eval/],
    ['exec.pth', /refuses the global __builtin__\.exec/],
    ['whole_module.pth', /refuses the global __main__\.Net \(a whole pickled object: save model\.state_dict\(\)/],
    ['missing_record.pth', /storage 0 has no record archive\/data\/0/],
    [
      'short_record.pth',
      /storage 0 is 4 float32 elements \(16 bytes\), but its record archive\/data\/0 holds 12 bytes/,
    ],
    ['view_past_storage.pth', /size \[3\], stride \[1\], offset 2 reaches element 4 of storage 0, which holds 4/],
    ['absurd_shape.pth', /an overlapping view this large is refused/],
    ['huge_numel.pth', /element count is the number 1152921504606846976, not an integer/],
  ];
  for (const [name, pattern] of cases) {
    it(name, () => refused(join(GOLDEN, 'hostile', name), pattern));
  }

  it('every fixture under hostile/ has a case', () => {
    assert.deepEqual(readdirSync(join(GOLDEN, 'hostile')).sort(), cases.map(([n]) => n).sort());
  });

  /** An archive whose data.pkl is `pickle` (bytes written by hand) and whose records are `data`. */
  const archive = (pickle: number[] | string, data: Record<string, Uint8Array> = {}): Uint8Array => {
    const pkl = typeof pickle === 'string' ? Uint8Array.from(pickle, (c) => c.charCodeAt(0)) : Uint8Array.from(pickle);
    const chunks: Uint8Array[] = [];
    writeStoredZip(
      [
        { name: 'archive/data.pkl', data: pkl },
        ...Object.entries(data).map(([k, v]) => ({ name: `archive/data/${k}`, data: v })),
      ],
      (b) => chunks.push(b),
      'test',
    );
    return Uint8Array.from(chunks.flatMap((c) => [...c]));
  };

  it('hand-built pickles: calling a storage type, NEWOBJ, a bad persistent id, a non-tuple size', () => {
    refused(
      file(archive('\x80\x02ctorch\nFloatStorage\nK\x05\x85R.')),
      /REDUCE calls the storage type torch\.FloatStorage, which is not allowed/,
    );
    refused(
      file(archive('\x80\x02ccollections\nOrderedDict\n)\x81.')),
      /opcode 0x81 \(NEWOBJ\) is not one a PyTorch state dict uses/,
    );
    refused(
      file(archive('\x80\x02X\x03\x00\x00\x00abcQ.')),
      /a persistent id is the string "abc"; PyTorch's is \('storage'/,
    );
    refused(file(archive('\x80\x02cnt\nsystem\nX\x02\x00\x00\x00ls\x85R.')), /refuses the global nt\.system/);
    const storage = '(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQ';
    const rebuild = (size: string, stride: string): string =>
      `\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(${storage}K\x00${size}${stride}\x89ccollections\nOrderedDict\n)RtRu.`;
    const two = new Uint8Array(8);
    refused(file(archive(rebuild('K\x02', 'K\x01\x85'), { '0': two })), /the size is the number 2, not a tuple/);
    refused(file(archive(rebuild('K\x02\x85', 'K\x01K\x01\x86'), { '0': two })), /size has 1 dimensions, stride 2/);
    const ok = readPth(
      archive(rebuild('K\x02\x85', 'K\x01\x85'), { '0': new Uint8Array(new Float32Array([1.5, -2]).buffer) }),
    );
    assert.deepEqual([...ok.tensors.get('w')!.toArray()], [1.5, -2]);
    refused(file(archive('\x80\x02}(X\x01\x00\x00\x00wK\x01')), /the pickle ends without STOP/);
  });

  const tiny = new Uint8Array(readFileSync(join(GOLDEN, 'tiny.pth')));

  it('a truncated archive is refused at every cut', () => {
    for (const cut of [0, 3, 30, 100, tiny.length / 2, tiny.length - 23, tiny.length - 1].map(Math.floor)) {
      const path = file(tiny.subarray(0, cut));
      assert.throws(() => readPth(path), DataFormatError, `cut at ${cut}`);
    }
  });

  it('a corrupt central directory, a corrupt record (CRC) and a missing end record are refused', () => {
    const zip = openZip(tiny, 'tiny');
    const first = [...zip.entries.values()][0];
    const view = new DataView(tiny.buffer.slice(0));
    const bytes = new Uint8Array(view.buffer);
    // The central directory's first entry: find its signature after the last record's data.
    let cd = -1;
    for (let i = tiny.length - 22; i >= 0; i--) {
      if (view.getUint32(i, true) === 0x02014b50 && view.getUint32(i + 42, true) === first.headerOffset) cd = i;
    }
    assert.ok(cd > 0);
    const badCd = bytes.slice();
    badCd[cd] = 0;
    refused(file(badCd), /central directory entry 0 is missing or corrupt/);
    const badOffset = bytes.slice();
    new DataView(badOffset.buffer).setUint32(cd + 42, 12345678, true);
    refused(file(badOffset), /header offset 12345678 is past the end/);
    const badData = bytes.slice();
    const rec = zip.entries.get('tiny/data/0')!;
    const start =
      rec.headerOffset + 30 + view.getUint16(rec.headerOffset + 26, true) + view.getUint16(rec.headerOffset + 28, true);
    badData[start] ^= 0xff;
    const ckpt = openPth(file(badData));
    assert.throws(() => ckpt.read('f32'), /fails its CRC-32 check/);
    const noEnd = bytes.slice(0, cd);
    refused(file(noEnd), /no zip end-of-central-directory record/);
  });
  // Random mutations of tiny.pth (and of the other formats' files): test/fuzz/formats.test.ts.
});

describe('writePth', () => {
  it('round-trips a state dict: float32, float64 and num_batches_tracked as int64', () => {
    const f64 = fromArray([Math.PI, 1 / 3], [2], { dtype: 'float64', backend: 'ref' });
    const dict = new Map<string, Tensor>([
      ['a.weight', fromArray([1, 2, 3, 4, 5, 6], [2, 3])],
      ['scalar', fromArray([2.5], [])],
      ['d', f64],
      ['bn.num_batches_tracked', fromArray([42], [])],
      ['empty', fromArray([], [0, 4])],
    ]);
    const bytes = encodePth(dict);
    const r = readPth(bytes, { dtype: (_, stored) => (stored === 'float64' ? 'float64' : 'float32') });
    assert.deepEqual(
      [...r.dtypes],
      [
        ['a.weight', 'float32'],
        ['scalar', 'float32'],
        ['d', 'float64'],
        ['bn.num_batches_tracked', 'int64'],
        ['empty', 'float32'],
      ],
    );
    for (const [k, t] of dict) {
      assert.deepEqual(r.tensors.get(k)!.shape, t.shape, k);
      same(r.tensors.get(k)!.toArray(), [...t.toArray()], k);
    }
    // Every record's data starts at a multiple of 64 bytes, as PyTorch aligns them.
    const zip = openZip(bytes, 'w');
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    for (const e of zip.entries.values()) {
      const start =
        e.headerOffset + 30 + v.getUint16(e.headerOffset + 26, true) + v.getUint16(e.headerOffset + 28, true);
      assert.equal(start % 64, 0, e.name);
    }
    const path = join(dir, 'w.pth');
    writePth(path, dict);
    assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('.tmp')),
      [],
    );
  });

  it('refuses tensors without values (the meta backend)', () => {
    const m = buildModel('resnet20_cifar', { backend: 'meta' });
    assert.throws(() => encodePth(m.stateDict()), /is on the 'meta' backend and has no values/);
  });

  const python = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf-8' });
  const skip =
    python.status === 0
      ? false
      : `/usr/bin/python3 cannot import torch and torchvision (${(python.error?.message ?? python.stderr.trim().split('\n').pop()) || 'unknown reason'}), so PyTorch cannot read convkit's file here`;
  // resnet18 (45 MB) checks that torchvision's own model takes convkit's file strictly; the forward
  // comparison runs on a small conv/bn/linear net, since resnet18's first forward in convkit takes
  // about 7 s on a loaded 2-core machine (the whole test would pass 15 s).
  it("PyTorch loads convkit's files with weights_only=True: resnet18 strictly into torchvision, a small net with the same output", {
    skip,
  }, () => {
    manualSeed(11);
    const model = buildModel('resnet18');
    noGrad(() => {
      for (const [key, t] of model.stateDict({ keepVars: true })) {
        if (key.endsWith('num_batches_tracked')) t.assign(fromArray([5], []));
      }
    });
    const resnet = join(dir, 'resnet18.pth');
    writePth(resnet, model.stateDict());
    model.dispose();

    const small = Sequential.named([
      ['conv', new Conv2d(1, 2, 3)],
      ['bn', new BatchNorm2d(2)],
      ['flat', new Flatten()],
      ['fc', new Linear(18, 3)],
    ]);
    noGrad(() => {
      const sd = small.stateDict({ keepVars: true });
      sd.get('bn.running_mean')!.assign(uniform([2], -0.5, 0.5));
      sd.get('bn.running_var')!.assign(uniform([2], 0.5, 1.5));
      sd.get('bn.weight')!.assign(uniform([2], 0.5, 1.5));
      sd.get('bn.bias')!.assign(uniform([2], -0.5, 0.5));
    });
    small.eval();
    const smallPath = join(dir, 'small.pth');
    writePth(smallPath, small.stateDict());
    const x = randn([2, 1, 5, 5]);
    const xPath = join(dir, 'x.f32');
    writeFileSync(xPath, new Uint8Array(x.toArray().buffer.slice(0)));
    const ours = noGrad(() => small.call(x)).toArray();
    const script = [
      'import sys, json, collections, numpy as np, torch, torchvision',
      'sd = torch.load(sys.argv[1], weights_only=True)',
      'torchvision.models.resnet18().load_state_dict(sd, strict=True)',
      'nbt = sd["bn1.num_batches_tracked"]',
      'nn = torch.nn',
      'm = nn.Sequential(collections.OrderedDict(conv=nn.Conv2d(1, 2, 3), bn=nn.BatchNorm2d(2), flat=nn.Flatten(), fc=nn.Linear(18, 3)))',
      'm.load_state_dict(torch.load(sys.argv[2], weights_only=True), strict=True)',
      'm.eval()',
      'x = torch.from_numpy(np.fromfile(sys.argv[3], dtype=np.float32).reshape(2, 1, 5, 5))',
      'with torch.no_grad(): y = m(x)',
      "print(json.dumps({'nbt': int(nbt), 'dtype': str(nbt.dtype), 'y': y.reshape(-1).tolist()}))",
    ].join('\n');
    const run = spawnSync('/usr/bin/python3', ['-c', script, resnet, smallPath, xPath], { encoding: 'utf-8' });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { nbt: number; dtype: string; y: number[] };
    assert.equal(out.dtype, 'torch.int64');
    assert.equal(out.nbt, 5);
    assert.equal(out.y.length, ours.length);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - out.y[i]));
    assert.ok(maxDiff < 1e-5, `max abs difference ${maxDiff}`);
  });
});
