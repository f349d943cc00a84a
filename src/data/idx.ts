/**
 * The IDX format of MNIST and Fashion-MNIST, gzipped or not (gzip is recognised by its magic
 * bytes 1f 8b, not by the name). Layout: bytes 0-1 are zero, byte 2 the element type (0x08
 * ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double), byte 3 the number of
 * dimensions; then each dimension as a big-endian uint32; then the elements, big-endian,
 * row-major. The header is checked against the file's length before the data is allocated.
 */
import { join } from 'node:path';
import { DataFormatError } from '../core/errors.js';
import { findFile, formatError, gunzipSized, isGzip, readWholeFile } from './binary-files.js';
import { type ArrayDataset, checkDataset } from './dataset.js';

export type IdxDType = 'ubyte' | 'byte' | 'short' | 'int' | 'float' | 'double';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxFile {
  dims: number[];
  dtype: IdxDType;
  /** Row-major elements in the platform's byte order. */
  data: IdxData;
}

const TYPES: ReadonlyMap<number, { dtype: IdxDType; size: number }> = new Map([
  [0x08, { dtype: 'ubyte', size: 1 }],
  [0x09, { dtype: 'byte', size: 1 }],
  [0x0b, { dtype: 'short', size: 2 }],
  [0x0c, { dtype: 'int', size: 4 }],
  [0x0d, { dtype: 'float', size: 4 }],
  [0x0e, { dtype: 'double', size: 8 }],
]);

/** The ten digits, MNIST's classes. */
export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const hex = (b: number): string => b.toString(16).padStart(2, '0');

/**
 * The total length (header + data) that the first bytes announce, or undefined when `bytes`
 * does not yet hold the whole header. Throws for a bad magic or type.
 */
function announcedLength(file: string, bytes: Uint8Array, complete: boolean, gz: boolean): number | undefined {
  if (bytes.length < 4) {
    if (!complete) return undefined;
    throw formatError(file, bytes.length, `the file ends after ${bytes.length} bytes, inside the 4-byte IDX magic`, gz);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const got = [...bytes.subarray(0, 4)].map(hex).join(' ');
    throw formatError(file, 0, `wrong magic: an IDX file starts 00 00 <type> <dims>, this one ${got}`, gz);
  }
  const type = TYPES.get(bytes[2]);
  if (!type) {
    throw formatError(
      file,
      2,
      `unknown IDX element type 0x${hex(bytes[2])} (known: 08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double)`,
      gz,
    );
  }
  const ndim = bytes[3];
  if (ndim === 0) throw formatError(file, 3, 'the header declares 0 dimensions', gz);
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength) {
    if (!complete) return undefined;
    throw formatError(
      file,
      bytes.length,
      `the file ends inside the header: ${ndim} dimensions need ${headerLength} header bytes (truncated file)`,
      gz,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerLength);
  let elements = 1n;
  for (let i = 0; i < ndim; i++) elements *= BigInt(view.getUint32(4 + 4 * i, false));
  const total = BigInt(headerLength) + elements * BigInt(type.size);
  // Past 2^53 the number is only a lower bound, which is all the callers' size checks need.
  return total > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(total);
}

/** Parses IDX bytes (already decompressed); `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>', gzipped = false): IdxFile {
  const total = announcedLength(file, bytes, true, gzipped) as number;
  const type = TYPES.get(bytes[2]) as { dtype: IdxDType; size: number };
  const ndim = bytes[3];
  const headerLength = 4 + 4 * ndim;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const shape = `[${dims.join(', ')}]`;
  if (total > bytes.length) {
    const needed = dims.reduce((n, d) => n * BigInt(d), BigInt(type.size));
    throw formatError(
      file,
      bytes.length,
      `dims ${shape} of ${type.dtype} need ${needed} data bytes from byte ${headerLength}, ` +
        `but the file ends at byte ${bytes.length} (truncated file)`,
      gzipped,
    );
  }
  if (total < bytes.length) {
    throw formatError(
      file,
      total,
      `${bytes.length - total} bytes follow the ${total - headerLength} data bytes that dims ${shape} of ${type.dtype} need`,
      gzipped,
    );
  }
  const count = (total - headerLength) / type.size;
  return { dims, dtype: type.dtype, data: decode(type.dtype, type.size, view, headerLength, count) };
}

function decode(dtype: IdxDType, size: number, view: DataView, at: number, count: number): IdxData {
  const src = new Uint8Array(view.buffer, view.byteOffset + at, count * size);
  switch (dtype) {
    case 'ubyte':
      return src.slice();
    case 'byte':
      return new Int8Array(src.slice().buffer);
    case 'short': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + 2 * i, false);
      return out;
    }
    case 'int': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + 4 * i, false);
      return out;
    }
    case 'float': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, false);
      return out;
    }
    case 'double': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, false);
      return out;
    }
  }
}

/** Reads an IDX file, gzipped or not. Errors name the file and the byte offset. */
export function readIdx(path: string): IdxFile {
  const raw = readWholeFile(path);
  if (!isGzip(raw)) return parseIdx(raw, path, false);
  const bytes = gunzipSized(path, raw, (prefix, complete) => announcedLength(path, prefix, complete, true));
  return parseIdx(bytes, path, true);
}

export type IdxSplit = 'train' | 'test';

export interface IdxDatasetOptions {
  /** Class names; the label bytes index them (default: the ten digits). */
  classes?: readonly string[];
}

/** File names tried, in order, for a split's images or labels (plain first, then gzipped; MNIST mirrors also use a dot). */
export function idxFileNames(split: IdxSplit, kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const idx = kind === 'images' ? 'idx3' : 'idx1';
  const names = [`${prefix}-${kind}-${idx}-ubyte`, `${prefix}-${kind}.${idx}-ubyte`];
  return names.flatMap((n) => [n, `${n}.gz`]);
}

/**
 * An MNIST-layout split (`train-images-idx3-ubyte(.gz)` + `train-labels-idx1-ubyte(.gz)`, or the
 * `t10k-` pair) as an ArrayDataset: pixels scaled to [0, 1] as float32, sample shape
 * [1, rows, cols], labels as Int32Array.
 */
export function loadIdxDataset(dir: string, split: IdxSplit, opts: IdxDatasetOptions = {}): ArrayDataset {
  const classes = opts.classes ?? MNIST_CLASSES;
  if (split !== 'train' && split !== 'test') {
    throw new DataFormatError(dir, `split must be 'train' or 'test', got '${String(split)}'`);
  }
  const imagesPath = findFile(dir, `${split} images`, idxFileNames(split, 'images'));
  const labelsPath = findFile(dir, `${split} labels`, idxFileNames(split, 'labels'));
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  const imagesGz = imagesPath.endsWith('.gz');
  const labelsGz = labelsPath.endsWith('.gz');
  if (images.dtype !== 'ubyte' || images.dims.length !== 3) {
    throw formatError(
      imagesPath,
      2,
      `images must be ubyte with 3 dims [count, rows, cols], got ${images.dtype} [${images.dims.join(', ')}]`,
      imagesGz,
    );
  }
  if (labels.dtype !== 'ubyte' || labels.dims.length !== 1) {
    throw formatError(
      labelsPath,
      2,
      `labels must be ubyte with 1 dim [count], got ${labels.dtype} [${labels.dims.join(', ')}]`,
      labelsGz,
    );
  }
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw formatError(
      labelsPath,
      4,
      `${labels.dims[0]} labels, but ${imagesPath} holds ${count} images (the counts must agree)`,
      labelsGz,
    );
  }
  const labelBytes = labels.data as Uint8Array;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const l = labelBytes[i];
    if (l >= classes.length) {
      throw formatError(
        labelsPath,
        8 + i,
        `label ${l} of sample ${i} is outside the ${classes.length} classes (0..${classes.length - 1})`,
        labelsGz,
      );
    }
    out[i] = l;
  }
  const pixels = images.data as Uint8Array;
  const inputs = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) inputs[i] = pixels[i] / 255;
  const dataset: ArrayDataset = { inputs, sampleShape: [1, rows, cols], labels: out, classes };
  checkDataset(join(dir, split), dataset);
  return dataset;
}
