/** Kernels that move data: permute, slice, pad, concat; and sumSlices, the sum of boxes (concat's backward). */
import { sizeOf, stridesOf } from '../../core/shape.js';
import type { Kernels, KernelSpecs } from '../backend.js';
import { allocLike, data, type RefStorage } from './storage.js';
import { forEachRow } from './strided.js';

type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

export function permute({ x, shape, perm }: Args<'permute'>): RefStorage {
  const X = data(x);
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]);
  const srcStrides = perm.map((p) => inStrides[p]);
  const out = allocLike(x, X.length);
  const Y = out.data;
  const last = outShape.length - 1;
  const rowLen = last < 0 ? 1 : outShape[last];
  const dx = last < 0 ? 0 : srcStrides[last];
  forEachRow(outShape, [srcStrides], ([ox], o) => {
    for (let j = 0; j < rowLen; j++) Y[o + j] = X[ox + j * dx];
  });
  return out;
}

/** Copies the box of `src` (shape srcShape) starting at srcBegin into dst at dstBegin. */
function copyBox(
  src: ArrayLike<number>,
  srcShape: readonly number[],
  srcBegin: readonly number[],
  dst: { [i: number]: number },
  dstShape: readonly number[],
  dstBegin: readonly number[],
  box: readonly number[],
): void {
  if (sizeOf(box) === 0) return;
  const ss = stridesOf(srcShape);
  const ds = stridesOf(dstShape);
  const srcStart = srcBegin.reduce((acc, b, i) => acc + b * ss[i], 0);
  const dstStart = dstBegin.reduce((acc, b, i) => acc + b * ds[i], 0);
  const rowLen = box.length === 0 ? 1 : box[box.length - 1];
  forEachRow(box, [ss, ds], ([os, od]) => {
    for (let j = 0; j < rowLen; j++) dst[dstStart + od + j] = src[srcStart + os + j];
  });
}

export function slice({ x, shape, begin, size }: Args<'slice'>): RefStorage {
  const out = allocLike(x, sizeOf(size));
  copyBox(
    data(x),
    shape,
    begin,
    out.data,
    size,
    size.map(() => 0),
    size,
  );
  return out;
}

export function pad({ x, shape, pads, value }: Args<'pad'>): RefStorage {
  const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const out = allocLike(x, sizeOf(outShape));
  if (value !== 0) out.data.fill(value);
  copyBox(
    data(x),
    shape,
    shape.map(() => 0),
    out.data,
    outShape,
    pads.map((p) => p[0]),
    shape,
  );
  return out;
}

export function concat({ xs, shapes, axis }: Args<'concat'>): RefStorage {
  const outShape = [...shapes[0]];
  outShape[axis] = shapes.reduce((acc, s) => acc + s[axis], 0);
  const out = allocLike(xs[0], sizeOf(outShape));
  const begin = outShape.map(() => 0);
  xs.forEach((x, i) => {
    copyBox(
      data(x),
      shapes[i],
      begin.map(() => 0),
      out.data,
      outShape,
      begin,
      shapes[i],
    );
    begin[axis] += shapes[i][axis];
  });
  return out;
}

export function sumSlices({ xs, shapes, begins, size }: Args<'sumSlices'>): RefStorage {
  const out = allocLike(xs[0], sizeOf(size));
  if (out.data.length === 0) return out;
  const Y = out.data;
  const rowLen = size.length === 0 ? 1 : size[size.length - 1];
  xs.forEach((x, i) => {
    const X = data(x);
    const strides = stridesOf(shapes[i]);
    const start = begins[i].reduce((acc, b, axis) => acc + b * strides[axis], 0);
    // Part by part, each element rounded after every addition: the same sum as a chain of adds.
    forEachRow(size, [strides], ([os], o) => {
      if (i === 0) for (let j = 0; j < rowLen; j++) Y[o + j] = X[start + os + j];
      else for (let j = 0; j < rowLen; j++) Y[o + j] += X[start + os + j];
    });
  });
  return out;
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const layoutKernels = { permute, slice, pad, concat, sumSlices } satisfies Partial<Kernels>;
