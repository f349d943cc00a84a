import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  bfloat16ToNumber,
  encodeElements,
  halfToNumber,
  numberToBfloat16,
  numberToHalf,
} from '../../src/io/elements.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'half.json');
const golden = JSON.parse(readFileSync(GOLDEN, 'utf-8')) as { float32: string[][]; float64: string[][] };

const u16 = (bytes: Uint8Array): Uint16Array => new Uint16Array(bytes.slice().buffer);
const hex = (n: number): string => n.toString(16).padStart(4, '0');

describe('float16 / bfloat16 encoding: PyTorch bit for bit (test/golden/half.json)', () => {
  it(`float32 -> F16 and BF16: ${golden.float32.length} inputs (ties, overflow, subnormals, NaN payloads)`, () => {
    const bits = Uint32Array.from(golden.float32, (r) => Number.parseInt(r[0], 16));
    const values = new Float32Array(bits.buffer);
    const half = u16(encodeElements(values, 'F16'));
    const bf16 = u16(encodeElements(values, 'BF16'));
    golden.float32.forEach(([input, h, b], i) => {
      assert.equal(hex(half[i]), h, `float32 ${input} -> F16`);
      assert.equal(hex(bf16[i]), b, `float32 ${input} -> BF16`);
    });
  });

  it(`float64 -> F16 and BF16 rounds through float32 as PyTorch does: ${golden.float64.length} inputs`, () => {
    const bits = BigUint64Array.from(golden.float64, (r) => BigInt(`0x${r[0]}`));
    const values = new Float64Array(bits.buffer);
    const half = u16(encodeElements(values, 'F16'));
    const bf16 = u16(encodeElements(values, 'BF16'));
    golden.float64.forEach(([input, h, b], i) => {
      assert.equal(hex(half[i]), h, `float64 ${input} (${values[i]}) -> F16`);
      assert.equal(hex(bf16[i]), b, `float64 ${input} (${values[i]}) -> BF16`);
      if (!Number.isNaN(values[i])) {
        assert.equal(hex(numberToHalf(values[i])), h);
        assert.equal(hex(numberToBfloat16(values[i])), b);
      }
    });
  });

  it('every float16 and bfloat16 value survives the round trip; ties between neighbours go to the even one', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToNumber(h);
      if (Number.isNaN(v)) continue;
      assert.equal(numberToHalf(v), h, `F16 ${hex(h)}`);
      assert.equal(numberToBfloat16(bfloat16ToNumber(h)), h, `BF16 ${hex(h)}`);
      const next = halfToNumber(h + 1);
      if ((h & 0x7fff) < 0x7bff && !(h & 0x8000)) {
        const tie = (v + next) / 2;
        assert.equal(numberToHalf(tie), h % 2 === 0 ? h : h + 1, `the tie after ${hex(h)}`);
      }
    }
  });
});
