import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DataFormatError } from '../../src/core/errors.js';
import { detectWeightsFormat } from '../../src/io/load-weights.js';
import { openPth, readPth } from '../../src/io/pth.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'pth');
const dir = mkdtempSync(join(tmpdir(), 'convkit-legacy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const latin1 = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const u32 = (n: number): string => String.fromCharCode(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
const str = (s: string): string => `X${u32(s.length)}${s}`;
const int64 = (n: bigint): number[] => [...new Uint8Array(BigInt64Array.of(n).buffer)];

const MAGIC = '\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.';
const VERSION = '\x80\x02M\xe9\x03.';
const SYS_INFO = `\x80\x02}(${str('little_endian')}\x88u.`;

/** `{'w': tensor}` whose storage '0' of `numel` floats is viewed with `size` and `view` metadata. */
function statePickle(
  opts: { numel?: string; size?: string; stride?: string; view?: string; global?: string; location?: string } = {},
): string {
  const pid = `(${str('storage')}ctorch\nFloatStorage\n${str('0')}${opts.location ?? str('cpu')}${opts.numel ?? 'K\x02'}${opts.view ?? 'N'}tQ`;
  const rebuild = opts.global ?? 'torch._utils\n_rebuild_tensor_v2';
  return `\x80\x02}(${str('w')}c${rebuild}\n(${pid}K\x00${opts.size ?? 'K\x02\x85'}${opts.stride ?? 'K\x01\x85'}\x89ccollections\nOrderedDict\n)RtRu.`;
}

/** A legacy checkpoint put together by hand: the five pickles, then each storage as count + bytes. */
function legacy(
  parts: { magic?: string; version?: string; state?: string; keys?: string[] } = {},
  storages: number[][] = [[...int64(2n), ...new Uint8Array(Float32Array.of(1.5, -2).buffer)]],
): Uint8Array {
  const keys = `\x80\x02](${(parts.keys ?? ['0']).map(str).join('')}e.`;
  const pickles = [parts.magic ?? MAGIC, parts.version ?? VERSION, SYS_INFO, parts.state ?? statePickle(), keys];
  return Uint8Array.from([...pickles.flatMap(latin1), ...storages.flat()]);
}

function refused(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readPth(bytes, { name: 'legacy.pth' }),
    (e: unknown) => {
      assert.ok(e instanceof DataFormatError, `expected a DataFormatError, got ${String(e)}`);
      assert.ok(e.message.startsWith('legacy.pth: '), e.message);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('legacy .pth: the format, checked', () => {
  it('a hand-built file reads; its layout is reported', () => {
    const r = readPth(legacy());
    assert.deepEqual([...r.tensors.get('w')!.toArray()], [1.5, -2]);
    assert.equal(openPth(legacy()).layout, 'legacy');
  });

  it('refuses every global but the tensor-rebuild ones, naming it, before anything else', () => {
    refused(legacy({ state: `\x80\x02cposix\nsystem\n${str('ls')}\x85R.` }), /refuses the global posix\.system/);
    refused(legacy({ state: statePickle({ global: 'builtins\neval' }) }), /refuses the global builtins\.eval/);
  });

  it('lengths are checked against the file before anything is allocated', () => {
    const huge = `\x8a\x07${String.fromCharCode(0, 0, 0, 0, 0, 0, 0x04)}`; // 2^50 as LONG1
    refused(
      legacy({ state: statePickle({ numel: huge }) }, [[...int64(2n ** 50n), 0, 0, 0, 0]]),
      /storage 0's 1125899906842624 float32 elements \(4503599627370496 bytes\) run past the end of the \d+-byte file/,
    );
    refused(
      legacy({}, [[...int64(3n), 0, 0, 0, 0, 0, 0, 0, 0]]),
      /storage 0 holds 3 elements here, but the pickle says 2/,
    );
    refused(legacy({}, [[...int64(2n), 0, 0, 0]]), /run past the end of the \d+-byte file \(truncated\)/);
    refused(legacy({}, [[...int64(2n), 0, 0, 0, 0, 0, 0, 0, 0, 9]]), /1 bytes follow the last storage/);
    refused(legacy({ state: statePickle({ size: 'K\x03\x85' }) }), /reaches element 2 of storage 0, which holds 2/);
    // Sizes whose product passes 2^53 are counted exactly: 2^90 elements, every digit.
    const twoTo30 = 'J\x00\x00\x00\x40';
    refused(
      legacy({ state: statePickle({ size: `${twoTo30.repeat(3)}\x87`, stride: 'K\x00K\x00K\x00\x87' }) }),
      /has 1237940039285380274899124224 elements from a storage of 2 \(an overlapping view this large is refused\)/,
    );
  });

  it('the pickles around the state dict are checked: magic, version, key list, view metadata', () => {
    refused(legacy({ magic: '\x80\x02K\x05.' }), /the first pickle is the number 5, not PyTorch's magic number/);
    refused(
      legacy({ version: '\x80\x02M\xe8\x03.' }),
      /protocol version the number 1000; legacy PyTorch checkpoints have 1001/,
    );
    refused(legacy({ keys: ['1'] }), /the key list names storage 1, which the saved object does not use/);
    refused(legacy({ keys: [] }, []), /storage 0 is used by the saved object but has no data in the file/);
    refused(legacy({ keys: ['0', '0'] }), /names storage 0 twice/);
    // torch.load refuses a location it has no device for; a CUDA checkpoint reads onto convkit's backend.
    refused(
      legacy({ state: statePickle({ location: str('cpU') }) }),
      /storage 0's location is the string "cpU", not a device tag/,
    );
    refused(legacy({ state: statePickle({ location: 'K\x05' }) }), /location is the number 5/);
    assert.equal(readPth(legacy({ state: statePickle({ location: str('cuda:1') }) })).tensors.size, 1);
    refused(
      legacy({ state: statePickle({ view: `(${str('0')}K\x00K\x02t` }) }),
      /view metadata is a tuple of 3; convkit reads None/,
    );
  });

  it('a truncated golden file is refused at every cut', () => {
    const bytes = new Uint8Array(readFileSync(join(GOLDEN, 'legacy_tiny.pth')));
    for (let cut = 0; cut < bytes.length; cut += 7) {
      assert.throws(() => readPth(bytes.subarray(0, cut), { name: `cut${cut}` }), DataFormatError, `cut at ${cut}`);
    }
  });
});

const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf-8' });
const skip =
  probe.status === 0
    ? false
    : `/usr/bin/python3 cannot import torch (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'unknown reason'}), so no legacy files can be made here`;

describe('legacy .pth: files torch.save writes now', () => {
  it('protocols 2 and 4, parameters, float16/bfloat16/int64, views, a nested checkpoint: the values torch holds', {
    skip,
  }, () => {
    const script = `
import json, math, sys, collections, torch
torch.manual_seed(0)
d = sys.argv[1]
base = torch.randn(4, 6)
sd = collections.OrderedDict()
sd['fc.weight'] = torch.nn.Parameter(torch.randn(3, 2))
sd['half'] = torch.tensor([1.0, -0.0, 65504.0, 2.0**-24, math.inf, math.nan]).half()
sd['brain'] = torch.tensor([1.0, -2.5, 1e-40, math.nan]).bfloat16()
sd['bn.num_batches_tracked'] = torch.tensor(12345678901, dtype=torch.int64)
sd['double'] = torch.tensor([math.pi, -1e-300], dtype=torch.float64)
sd['base'] = base
sd['t'] = base.t()
sd['slice'] = base[1:3, ::2]
def exact(t):
    return [v if math.isfinite(v) else str(v) for v in t.detach().double().reshape(-1).tolist()]
for proto in (2, 4):
    torch.save(sd, f'{d}/p{proto}.pth', _use_new_zipfile_serialization=False, pickle_protocol=proto)
torch.save({'model': sd, 'epoch': 7, 'arch': 'mlp'}, f'{d}/nested.pth', _use_new_zipfile_serialization=False)
print(json.dumps({k: {'dtype': str(v.dtype)[6:], 'shape': list(v.shape), 'values': exact(v)} for k, v in sd.items()}))
`;
    const run = spawnSync('/usr/bin/python3', ['-c', script, dir], { encoding: 'utf-8' });
    assert.equal(run.status, 0, run.stderr);
    const want = JSON.parse(run.stdout) as Record<
      string,
      { dtype: string; shape: number[]; values: (number | string)[] }
    >;
    const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v.replace('inf', 'Infinity')));
    for (const name of ['p2.pth', 'p4.pth', 'nested.pth']) {
      const path = join(dir, name);
      assert.equal(detectWeightsFormat(path), 'pth', name);
      const r = readPth(path, { dtype: 'float64' });
      assert.deepEqual([...r.tensors.keys()], Object.keys(want), name);
      for (const [k, e] of Object.entries(want)) {
        assert.equal(r.dtypes.get(k), e.dtype, `${name} ${k}`);
        assert.deepEqual(r.tensors.get(k)!.shape, e.shape, `${name} ${k}`);
        const got = [...r.tensors.get(k)!.toArray()];
        e.values.map(num).forEach((v, i) => assert.ok(Object.is(got[i], v), `${name} ${k}[${i}]: ${got[i]} vs ${v}`));
      }
      if (name === 'nested.pth') {
        assert.deepEqual(r.statePath, ['model']);
        assert.deepEqual(r.metadata, { epoch: '7', arch: 'mlp' });
      }
    }
  });
});
