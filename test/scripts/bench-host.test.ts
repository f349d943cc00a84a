/**
 * The bench's host record, read from /proc/cpuinfo text as two real hosts of this project wrote
 * it (trimmed to the fields read; the flags lines shortened to the kernel-relevant ones and a few
 * others), and the time-to-first-result table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstResultTable } from '../../scripts/bench/first-result.js';
import { cappedNote, describeHost, hostInfo } from '../../scripts/bench/host.js';

const INTEL = `processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 2
flags\t\t: fpu sse2 fma avx avx2 avx512f avx512dq avx512bw avx512vl hypervisor avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: another
`;

const AMD_AVX2 = `processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse2 fma avx avx2 f16c hypervisor
`;

test('the host record keeps the family and model numbers and the kernel-relevant flags', () => {
  const intel = hostInfo(INTEL);
  assert.equal(intel.cpu, 'Intel(R) Xeon(R) Processor', 'the first processor only');
  assert.deepEqual([intel.vendor, intel.family, intel.model, intel.stepping], ['GenuineIntel', 6, 207, 2]);
  assert.equal(intel.codename, 'Emerald Rapids');
  assert.equal(
    intel.flags.join(' '),
    'avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8',
    'in the order printed, the non-kernel flags dropped',
  );
  assert.equal(intel.virtual, true);
  assert.match(
    describeHost(intel),
    /^Intel\(R\) Xeon\(R\) Processor \(GenuineIntel family 6 model 207 stepping 2: Emerald Rapids, under a hypervisor\), \d+ logical cores, \d+ GiB; ISA flags: avx2 fma avx512f .* amx_int8; Node v\d+/,
  );

  const amd = hostInfo(AMD_AVX2);
  assert.deepEqual(amd.flags, ['avx2', 'fma'], 'no AVX-512 on this host');
  assert.equal(amd.codename, 'Zen 4 (Genoa)');
  assert.equal(hostInfo('').family, null, 'no /proc/cpuinfo: no numbers, no guesses');
});

test('a run that emulates a smaller host says so, naming the variables; a plain run says nothing', () => {
  assert.equal(cappedNote({ PATH: '/usr/bin' }), null);
  const note = cappedNote({ ONEDNN_MAX_CPU_ISA: 'AVX2', CONVKIT_NATIVE_ADDON: '/x/convkit_native.node' });
  assert.match(
    note ?? '',
    /^emulating a smaller host \(CONVKIT_NATIVE_ADDON=\/x\/convkit_native.node, ONEDNN_MAX_CPU_ISA=AVX2\)/,
  );
});

test('the first-result table shows each phase, the totals and their ratio', () => {
  const text = firstResultTable([
    {
      model: 'resnet18',
      convkit: { build: 50, load: 150, first: 200, total: 400, second: 30 },
      ort: { create: 500, first: 100, total: 600, second: 25 },
      logitsDiff: 1e-6,
    },
    { model: 'vgg16', convkit: null, ort: { create: 1, first: 1, total: 2, second: 1 }, logitsDiff: null },
  ]);
  assert.match(text, /^Time to first result/);
  assert.match(text, /\| resnet18 \| +50 \| +150 \| +200 \| +400 \| +500 \| +100 \| +600 \| +1\.50x \| +30 \/ 25 \|/);
  assert.match(text, /\| vgg16 +\| +- \| +- \| +- \| +- \| +1 \| +1 \| +2 \| +- \| +- \/ 1 \|/);
});
