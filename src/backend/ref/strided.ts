/** Index helpers for the ref kernels that walk broadcast or permuted layouts. */
import type { Shape } from '../../core/shape.js';
import { stridesOf } from '../../core/shape.js';

/** Strides of `shape` seen from `outShape` (right-aligned), 0 along broadcast axes. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]));
}

/**
 * Calls `visit(offsets, outOffset)` once per row of `outShape` (all axes but the last), where
 * offsets[j] is the start of that row in input j, given input j's strides over outShape.
 * The caller then walks the last axis itself with each input's last stride.
 */
export function forEachRow(
  outShape: Shape,
  strides: readonly number[][],
  visit: (offsets: number[], outOffset: number) => void,
): void {
  const rank = outShape.length;
  const rowLen = rank === 0 ? 1 : outShape[rank - 1];
  let rows = 1;
  for (let i = 0; i < rank - 1; i++) rows *= outShape[i];
  const counter = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  const offsets = strides.map(() => 0);
  for (let r = 0; r < rows; r++) {
    visit(offsets, r * rowLen);
    for (let ax = rank - 2; ax >= 0; ax--) {
      counter[ax]++;
      for (let j = 0; j < strides.length; j++) offsets[j] += strides[j][ax];
      if (counter[ax] < outShape[ax]) break;
      for (let j = 0; j < strides.length; j++) offsets[j] -= strides[j][ax] * outShape[ax];
      counter[ax] = 0;
    }
  }
}
