import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ArgumentError } from '../../src/core/errors.js';
import type { Tensor } from '../../src/core/tensor.js';
import {
  bfloat16ToNumber,
  halfToNumber,
  numberToBfloat16,
  numberToHalf,
  type WeightDType,
} from '../../src/io/elements.js';
import { openPth, readPth } from '../../src/io/pth.js';
import { encodePth, writePth } from '../../src/io/pth-write.js';
import { readSafetensors, readSafetensorsHeader } from '../../src/io/safetensors.js';
import { encodeSafetensors, writeSafetensors } from '../../src/io/safetensors-write.js';
import { fromArray } from '../../src/ops/creation.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-f16-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Values that decide the rounding: ties, overflow, subnormals, specials, and ordinary draws. */
const W = Float32Array.from([
  0,
  -0,
  1,
  -2.5,
  0.1,
  1 / 3,
  65504,
  65519.99,
  65520,
  1e6,
  -1e6,
  2 ** -24,
  2 ** -25,
  3 * 2 ** -26,
  1e-8,
  1e-40,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  1 + 2 ** -8,
  1 + 3 * 2 ** -8,
  3.4e38,
  Infinity,
  -Infinity,
  Number.NaN,
  ...Array.from({ length: 40 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 9) - 4)),
]);
const D = Float64Array.from([Math.PI, 1 + 2 ** -11 + 2 ** -40, 1e300, -1e-300, 1 + 2 ** -8 + 2 ** -40, 65519.999]);

function dict(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    ['conv.weight', fromArray(W, [W.length / 8, 8])],
    ['d', fromArray(D, [D.length], { dtype: 'float64', backend: 'ref' })],
    ['bn.num_batches_tracked', fromArray([3000], [])],
  ]);
}

const decode = {
  F16: (v: number) => halfToNumber(numberToHalf(v)),
  BF16: (v: number) => bfloat16ToNumber(numberToBfloat16(v)),
};

function sameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

describe('writing F16 and BF16', () => {
  for (const dtype of ['F16', 'BF16'] as const) {
    it(`safetensors and .pth as ${dtype}: values rounded once, num_batches_tracked kept int64`, () => {
      const st = readSafetensors(encodeSafetensors(dict(), undefined, { dtype }), { dtype: 'float64' });
      assert.deepEqual(
        [...st.dtypes],
        [
          ['conv.weight', dtype],
          ['d', dtype],
          ['bn.num_batches_tracked', 'I64'],
        ],
      );
      const pth = readPth(encodePth(dict(), { dtype }), { dtype: 'float64' });
      const storage = dtype === 'F16' ? 'float16' : 'bfloat16';
      assert.deepEqual([...pth.dtypes.values()], [storage, storage, 'int64']);
      for (const r of [st, pth]) {
        sameBits(r.tensors.get('conv.weight')!.toArray(), Array.from(W, decode[dtype]), `${dtype} conv.weight`);
        sameBits(r.tensors.get('d')!.toArray(), Array.from(D, decode[dtype]), `${dtype} d`);
        assert.equal(r.tensors.get('bn.num_batches_tracked')!.item(), 3000);
      }
    });
  }

  it('F32 rounds float64 tensors; F64 widens float32 ones; the default keeps each dtype', () => {
    const f32 = readSafetensorsHeader(encodeSafetensors(dict(), undefined, { dtype: 'F32' }));
    assert.deepEqual(
      f32.entries.map((e) => e.dtype),
      ['F32', 'F32', 'F32'],
    );
    const f64 = readPth(encodePth(dict(), { dtype: 'F64' }), { dtype: 'float64' });
    assert.deepEqual([...f64.dtypes.values()], ['float64', 'float64', 'int64']);
    sameBits(f64.tensors.get('conv.weight')!.toArray(), W, 'F64 conv.weight');
    assert.deepEqual(
      readSafetensorsHeader(encodeSafetensors(dict())).entries.map((e) => e.dtype),
      ['F32', 'F64', 'F32'],
    );
  });

  it('refuses an unknown dtype, naming the writer', () => {
    const bad = { dtype: 'F8' as WeightDType };
    assert.throws(
      () => encodeSafetensors(dict(), undefined, bad),
      (e: unknown) =>
        e instanceof ArgumentError &&
        /encodeSafetensors: dtype must be one of F64, F32, F16, BF16, got "F8"/.test(e.message),
    );
    assert.throws(() => encodePth(dict(), bad), /encodePth: dtype must be one of/);
  });

  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf-8' });
  const skip =
    probe.status === 0
      ? false
      : `/usr/bin/python3 cannot import torch (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'unknown reason'}), so PyTorch cannot check convkit's F16/BF16 files here`;
  it("PyTorch reads convkit's F16/BF16 files (torch.load, and a Python safetensors parse) as its own .half() / .bfloat16() of the same values", {
    skip,
  }, () => {
    writeFileSync(join(dir, 'w.f32'), new Uint8Array(W.buffer));
    writeFileSync(join(dir, 'd.f64'), new Uint8Array(D.buffer));
    for (const dtype of ['F16', 'BF16'] as const) {
      writePth(join(dir, `${dtype}.pth`), dict(), { dtype });
      writeSafetensors(join(dir, `${dtype}.safetensors`), dict(), { format: 'pt' }, { dtype });
      assert.equal(openPth(join(dir, `${dtype}.pth`)).entries[0].dtype, dtype === 'F16' ? 'float16' : 'bfloat16');
    }
    const script = `
import json, struct, sys, numpy as np, torch
d = sys.argv[1]
w = torch.from_numpy(np.fromfile(d + '/w.f32', dtype=np.float32)).reshape(-1, 8)
x = torch.from_numpy(np.fromfile(d + '/d.f64', dtype=np.float64))
def bits(t): return t.contiguous().view(torch.int16).reshape(-1).tolist()
def safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    kinds = {'F16': torch.float16, 'BF16': torch.bfloat16, 'I64': torch.int64}
    out = {}
    for k, v in header.items():
        if k == '__metadata__': continue
        b, e = v['data_offsets']
        out[k] = torch.frombuffer(bytearray(body[b:e]), dtype=kinds[v['dtype']]).reshape(v['shape'])
    return out, header.get('__metadata__')
report = {}
for name, ref in (('F16', torch.float16), ('BF16', torch.bfloat16)):
    for kind in ('pth', 'safetensors'):
        if kind == 'pth':
            sd, meta = torch.load(f'{d}/{name}.pth', weights_only=True), None
        else:
            sd, meta = safetensors(f'{d}/{name}.safetensors')
        report[f'{name} {kind}'] = {
            'dtypes': [str(t.dtype) for t in sd.values()],
            'w': bits(sd['conv.weight']) == bits(w.to(ref)),
            'd': bits(sd['d']) == bits(x.to(ref)),
            'nbt': int(sd['bn.num_batches_tracked']),
            'meta': meta,
        }
print(json.dumps(report))
`;
    const run = spawnSync('/usr/bin/python3', ['-c', script, dir], { encoding: 'utf-8' });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Record<string, { dtypes: string[]; w: boolean; d: boolean; nbt: number }>;
    for (const dtype of ['F16', 'BF16']) {
      const torchName = dtype === 'F16' ? 'torch.float16' : 'torch.bfloat16';
      for (const kind of ['pth', 'safetensors']) {
        const r = report[`${dtype} ${kind}`];
        assert.deepEqual(r.dtypes, [torchName, torchName, 'torch.int64'], `${dtype} ${kind}`);
        assert.ok(r.w, `${dtype} ${kind}: conv.weight differs from torch's own conversion of the float32 values`);
        assert.ok(r.d, `${dtype} ${kind}: d differs from torch's own conversion of the float64 values`);
        assert.equal(r.nbt, 3000);
      }
    }
  });
});
