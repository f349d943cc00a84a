/**
 * The file-format mutation fuzzer in the suite (test/fuzz/formats.ts has the rules): a few hundred
 * mutants of a safetensors file, a zip and a legacy .pth and an ONNX file, with fixed seeds, a few
 * seconds; the mutants of .pth files that convkit reads are also loaded by torch.load where PyTorch
 * is installed. `npm run fuzz -- --formats` runs many more.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataFormatError } from '../../src/core/errors.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { type FormatName, type FormatOutcome, fuzzFormat, torchVerdicts } from './formats.js';

const SEED = 20261205;
const RUNS: Record<FormatName, number> = { safetensors: 200, 'pth-zip': 150, 'pth-legacy': 200, onnx: 100 };
const dir = mkdtempSync(join(tmpdir(), 'convkit-fuzz-formats-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const outcomes = new Map<FormatName, FormatOutcome>();

describe('mutated weight files: every load succeeds with the right tensors or fails with a convkit error', () => {
  for (const name of ['safetensors', 'pth-zip', 'pth-legacy', 'onnx'] as const) {
    it(`${name}: ${RUNS[name]} mutants`, () => {
      const { outcome, failure } = fuzzFormat(name, RUNS[name], SEED);
      outcomes.set(name, outcome);
      if (failure) assert.fail(`${failure}\nReplay: npm run fuzz -- --formats ${name} --seed ${SEED}`);
      // Both verdicts occur, or the mutations are not reaching the reader's checks.
      assert.ok(outcome.read > 0 && outcome.refused > 0, `${name}: ${outcome.read} read, ${outcome.refused} refused`);
    });
  }

  it('the .pth mutants convkit reads, torch.load reads as the same tensors (zip ones: see torchVerdicts)', (t) => {
    const mutants = [...(outcomes.get('pth-legacy')?.loaded ?? []), ...(outcomes.get('pth-zip')?.loaded ?? [])].slice(
      0,
      120,
    );
    const verdict = torchVerdicts(mutants, dir);
    if (!verdict) {
      t.skip('/usr/bin/python3 cannot import torch, so there is nothing to compare with');
      return;
    }
    assert.deepEqual(verdict.problems, []);
    assert.equal(verdict.compared, mutants.length);
    t.diagnostic(
      `${verdict.compared} mutants compared; ${verdict.zipTorchDiffers} zip ones torch refuses or misreads (see torchVerdicts)`,
    );
  });
});

describe('allocation is bounded by the file', () => {
  it('a safetensors header announcing a huge tensor is refused before anything is allocated', () => {
    const header = JSON.stringify({
      w: { dtype: 'F32', shape: [2 ** 20, 2 ** 20, 2 ** 10], data_offsets: [0, 2 ** 52] },
    });
    const bytes = new Uint8Array(8 + header.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(
      () => readSafetensors(bytes),
      (e: unknown) => e instanceof DataFormatError && /out of range: the data section holds 8 bytes/.test(e.message),
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  });
});
