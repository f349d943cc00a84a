/**
 * Weights between PyTorch and convkit, both ways: the code of `npm run check:interop`
 * (scripts/check-interop.ts) on three models. PyTorch (scripts/golden/interop.py, run by
 * /usr/bin/python3) writes torchvision's resnet18, densenet121 and googlenet with seeded random
 * weights as torch.save .pth, safetensors and torch.onnx.export ONNX with their logits; convkit
 * must load the first two and give those logits, convkit's importOnnx and ONNX Runtime must run
 * the third and give them too; then PyTorch must load convkit's .pth (torch.load weights_only=True) and safetensors into
 * torchvision's models strictly and give convkit's logits for convkit's changed weights.
 *
 * At 32x32, batch 2, on the reference backend (at this size its first forward pass is cheaper
 * than the native backend's planning): about 25 s of CPU, most of it PyTorch's. AlexNet and the
 * VGGs (240-550 MB files, and torch.onnx.export needs them at 224x224) and the deeper ResNets and
 * DenseNets run in `npm run check:interop` only. Skipped, saying why, when /usr/bin/python3
 * cannot import torch and torchvision.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setBackend } from '../../src/backend/registry.js';
import {
  ATOL_OF_MAX,
  checkInConvkit,
  checkInTorch,
  compareLogits,
  formatTable,
  type InteropRow,
  torchSkipReason,
  writeTorchFiles,
} from '../../scripts/check-interop.js';

const MODELS = ['resnet18', 'densenet121', 'googlenet'];
const SIZE = 32;

describe('weights move between PyTorch and convkit', () => {
  it('compareLogits fails a logit outside the tolerance, NaN and a length mismatch', () => {
    const torch = [2, -1, 0.5];
    assert.equal(compareLogits('m', 'f', 'r', [2, -1, 0.5 + ATOL_OF_MAX], torch).pass, true);
    assert.equal(compareLogits('m', 'f', 'r', [2, -1, 0.5 + 10 * ATOL_OF_MAX * 2], torch).pass, false);
    assert.equal(compareLogits('m', 'f', 'r', [2, Number.NaN, 0.5], torch).pass, false);
    assert.equal(compareLogits('m', 'f', 'r', [2, -1], torch).pass, false);
  });

  const skip = torchSkipReason();
  it(`torchvision's ${MODELS.join(', ')} through .pth, safetensors and ONNX, and convkit's files back into PyTorch`, {
    skip,
  }, async () => {
    setBackend('ref');
    const dir = mkdtempSync(join(tmpdir(), 'convkit-interop-test-'));
    try {
      writeTorchFiles(dir, MODELS, SIZE);
      const rows: InteropRow[] = [];
      const updated = new Map<string, Float32Array>();
      for (const name of MODELS) {
        const r = await checkInConvkit(dir, name);
        rows.push(...r.rows);
        assert.ok(r.updated, `${name}: convkit got no further than loading: ${formatTable(r.rows)}`);
        // convkit's weights are its own: PyTorch matching them cannot be PyTorch's first file again.
        assert.equal(compareLogits(name, '', '', r.updated, r.torch).pass, false, `${name}: the update moved nothing`);
        updated.set(name, r.updated);
      }
      rows.push(...checkInTorch(dir, updated));
      console.log(formatTable(rows));
      assert.equal(rows.length, MODELS.length * 6);
      for (const r of rows)
        assert.ok(
          r.pass,
          `${r.file} read by ${r.reader}: ${r.error ?? `max abs diff ${r.maxAbsDiff} of max |logit| ${r.scale}`}`,
        );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
