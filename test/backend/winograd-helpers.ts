/**
 * What the tests of convkit's Winograd kernels share (native-own-winograd.test.ts, on 8-channel blocks;
 * native-own-winograd16.test.ts, on 16): inputs converted into a plan's layout, padding lanes checked as zeros in
 * blocked maps and weights of either width, and the six-point transforms' tolerance.
 */
import assert from 'node:assert/strict';
import type { NativeRuntime } from '../../src/backend/native/runtime.js';
import { scaledTolerance } from './native-helpers.js';

/** `values` over `dims` converted from plain into layout `to` (queued on the runtime). */
export function converted(rt: NativeRuntime, values: Float32Array, dims: number[], to: number): Float32Array {
  const out = new Float32Array(rt.descInfo(to).bytes / 4);
  rt.exec('test', rt.reorderPlan(rt.plainDesc(dims), to), [values, out]);
  return out;
}

/** The padding lanes of an nChw8c or nChw16c (`lanes`) buffer of `channels` channels and `pixels` per map: each 0. */
export function assertPaddingZero(
  what: string,
  blocked: Float32Array,
  channels: number,
  pixels: number,
  lanes: 8 | 16,
): void {
  const blocks = Math.ceil(channels / lanes);
  for (let i = 0; i < blocked.length; i += lanes) {
    if (Math.floor(i / lanes / pixels) % blocks !== blocks - 1) continue;
    for (let lane = channels - lanes * (blocks - 1); lane < lanes; lane++)
      assert.ok(Object.is(blocked[i + lane], 0), `${what}: padding lane ${lane} at ${i} is ${blocked[i + lane]}`);
  }
}

/** The padding of OIhw8i8o or OIhw16i16o (`lanes`) weights of [outputs, inputs, 3, 3], past either count: each 0. */
export function assertWeightPaddingZero(
  what: string,
  blocked: Float32Array,
  outputs: number,
  inputs: number,
  lanes: 8 | 16,
): void {
  const inBlocks = Math.ceil(inputs / lanes);
  const block = lanes * lanes;
  for (let i = 0; i < blocked.length; i++) {
    const [oc, ic] = [i % lanes, Math.floor(i / lanes) % lanes];
    const [ib, ob] = [Math.floor(i / block / 9) % inBlocks, Math.floor(i / block / 9 / inBlocks)];
    if (ob * lanes + oc < outputs && ib * lanes + ic < inputs) continue;
    assert.ok(Object.is(blocked[i], 0), `${what}: padding at ${i} is ${blocked[i]}`);
  }
}

/**
 * The six-point transforms' larger constants round more: F(4x4, 3x3)'s worst error reached 4.5e-6
 * to 1.9e-5 of the outputs' RMS at 16-256 channels, 2-4x the direct kernel's (F(2x2, 3x3): under
 * 3e-6), so the absolute part is 4e-5 of the RMS (scaledTolerance: 1e-5), a 2x margin at 256
 * channels; F(2x2, 5x5) is held to the same.
 */
export function sixPointTolerance(expected: Float32Array): { rtol: number; atol: number } {
  const { rtol, atol } = scaledTolerance(expected);
  return { rtol, atol: 4 * atol };
}
