/**
 * Zip's CRC-32: the native addon's folded PCLMULQDQ sum (native/src/crc32.cc) against node:zlib's
 * for every length around its 64- and 16-byte steps, unaligned starts, continued sums and a large
 * buffer; and the io layer's crc32 (which hands large buffers to the addon) against zlib too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { loadNativeAddon } from '../../src/backend/native/index.js';
import { crc32 } from '../../src/io/zip.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

const zlibCrc = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
const noZlib = zlibCrc ? false : 'node:zlib has no crc32 in this Node (added in 20.15)';
const reference = (bytes: Uint8Array, previous = 0): number =>
  (zlibCrc as NonNullable<typeof zlibCrc>)(bytes, previous);

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

describe('crc32', () => {
  const skip = nativeSkipReason('crc32 (native)') || noZlib;
  it('the native sum equals zlib for every length to 300, unaligned starts and continued sums', { skip }, () => {
    const addon = loadNativeAddon();
    if ('error' in addon) throw new Error(addon.error);
    for (let length = 0; length <= 300; length++) {
      for (const offset of [0, 1, 7]) {
        const data = bytes(length + offset, length * 31 + offset).subarray(offset);
        assert.equal(addon.crc32(data, 0), reference(data), `length ${length}, offset ${offset}`);
        const previous = (length * 2654435761) >>> 0;
        assert.equal(addon.crc32(data, previous), reference(data, previous), `length ${length} after ${previous}`);
      }
    }
    const large = bytes(5 * 2 ** 20 + 13, 9);
    assert.equal(addon.crc32(large, 0), reference(large));
    const half = 2 ** 20 + 3;
    assert.equal(
      addon.crc32(large.subarray(half), addon.crc32(large.subarray(0, half), 0)),
      reference(large),
      'in two parts',
    );
    assert.throws(
      () => addon.crc32(new Float32Array(4) as unknown as Uint8Array, 0),
      /crc32: argument 'bytes' must be a Uint8Array/,
    );
  });

  it("the io layer's crc32 equals zlib below and above the size it hands to the addon", { skip: noZlib }, () => {
    for (const length of [0, 1000, 2 ** 20 - 1, 2 ** 20, 3 * 2 ** 20 + 5]) {
      const data = bytes(length, length + 1);
      assert.equal(crc32(data), reference(data), `length ${length}`);
      assert.equal(crc32(data, 12345), reference(data, 12345), `length ${length}, continued`);
    }
  });
});
