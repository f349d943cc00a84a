/**
 * The safetensors format (Hugging Face): an 8-byte little-endian unsigned header length N, N bytes
 * of UTF-8 JSON, then the data section. The JSON maps each tensor name to
 * `{ "dtype", "shape", "data_offsets": [begin, end] }` (offsets relative to the data section) and
 * may hold `"__metadata__": { string: string }`. Tensors are little-endian, row-major, and cover
 * the data section exactly: no gaps, no overlaps, nothing after the last one.
 *
 * Reading checks the whole header against the file before any tensor is allocated, reads the
 * header with one small read and then each tensor's bytes straight into its own array (a large
 * file is never held in memory as a whole), and converts every dtype to float32 (or float64 on
 * request). Writing is in safetensors-write.ts.
 * docs/formats.md has the rules and the errors.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { allocFloat, type DType, type FloatArray, isDType } from '../core/dtype.js';
import { ArgumentError, DataFormatError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { getBackend } from '../backend/registry.js';
import { wrap } from '../ops/util.js';

/** Bytes per element of every dtype convkit reads. */
export const SAFETENSORS_DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_SIZES;

/** The reference implementation's limit on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;

export const LITTLE_ENDIAN = endianness() === 'LE';

/** One tensor of the header; begin and end are relative to the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** The file path, or the name given for an in-memory buffer. */
  file: string;
  /** N, the JSON's length in bytes (padding included). */
  headerLength: number;
  /** Where the data section starts in the file: 8 + N. */
  dataStart: number;
  dataLength: number;
  /** The tensors in data-offset order. */
  entries: SafetensorsEntry[];
  /** `__metadata__`, or {} when the file has none. */
  metadata: Record<string, string>;
}

// ---- sources ----------------------------------------------------------------------------------

/** A file or a buffer, read by ranges. */
interface ByteSource {
  name: string;
  size: number;
  /** Fills `into` (default: a fresh array) with `length` bytes from `offset`. */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array;
  close(): void;
}

function openSource(source: string | Uint8Array, name?: string): ByteSource {
  if (typeof source !== 'string') {
    const bytes = source;
    return {
      name: name ?? '<buffer>',
      size: bytes.length,
      read: (offset, length, into) => {
        const part = bytes.subarray(offset, offset + length);
        if (!into) return part;
        into.set(part);
        return into;
      },
      close: () => {},
    };
  }
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (e) {
    throw new DataFormatError(source, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    throw new DataFormatError(source, 'is not a regular file');
  }
  return {
    name: source,
    size: stat.size,
    read: (offset, length, into) => {
      const out = into ?? new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new DataFormatError(source, `at byte ${offset + done}: the file ended while being read`);
        done += n;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}

// ---- header -----------------------------------------------------------------------------------

function fail(file: string, detail: string): DataFormatError {
  return new DataFormatError(file, detail);
}

/** What a JSON value is, for errors: 'a number (3)', 'an array'... */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseHeader(src: ByteSource): SafetensorsHeader {
  const file = src.name;
  if (src.size < 8) {
    throw fail(file, `the file is ${src.size} bytes, shorter than the 8-byte header length of a safetensors file`);
  }
  const n = new DataView(src.read(0, 8, new Uint8Array(8)).buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw fail(file, `at byte 0: header length ${n} is absurd (the limit is ${MAX_HEADER_BYTES} bytes)`);
  }
  const headerLength = Number(n);
  if (8 + headerLength > src.size) {
    throw fail(
      file,
      `at byte 0: header length ${headerLength} runs past the end of the file (${src.size} bytes; ` +
        `the header would end at byte ${8 + headerLength})`,
    );
  }
  const raw = src.read(8, headerLength, new Uint8Array(headerLength));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw fail(file, `the header (bytes 8 to ${8 + headerLength}) is not valid UTF-8`);
  }
  if (raw[0] !== 0x7b) {
    throw fail(file, `at byte 8: the header must start with '{', found ${describe(text.slice(0, 1))}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(file, `the header (bytes 8 to ${8 + headerLength}) is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(json)) throw fail(file, `the header is ${describe(json)}, not a JSON object`);

  const dataStart = 8 + headerLength;
  const dataLength = src.size - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, info);
      continue;
    }
    entries.push(parseEntry(file, name, info, dataLength));
  }
  checkCoverage(file, entries, dataStart, dataLength);
  return { file, headerLength, dataStart, dataLength, entries, metadata };
}

function parseMetadata(file: string, info: unknown): Record<string, string> {
  if (info === null) return {};
  if (!isRecord(info)) throw fail(file, `__metadata__ must be an object of strings, got ${describe(info)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string') {
      throw fail(file, `__metadata__ value for key ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
    }
    out[k] = v;
  }
  return out;
}

function parseEntry(file: string, name: string, info: unknown, dataLength: number): SafetensorsEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isRecord(info)) {
    throw fail(file, `${what}: expected an object with dtype, shape and data_offsets, got ${describe(info)}`);
  }
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_SIZES, dtype)) {
    throw fail(
      file,
      `${what}: unknown dtype ${describe(dtype)} (convkit reads ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`,
    );
  }
  if (!Array.isArray(shape)) throw fail(file, `${what}: shape must be an array of integers, got ${describe(shape)}`);
  let elements = 1n;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw fail(file, `${what}: shape ${JSON.stringify(shape)} must hold non-negative integers, found ${describe(d)}`);
    }
    elements *= BigInt(d);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw fail(file, `${what}: data_offsets must be [begin, end], got ${JSON.stringify(offsets) ?? 'nothing'}`);
  }
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      throw fail(file, `${what}: data_offsets ${JSON.stringify(offsets)} must be non-negative integers`);
    }
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) throw fail(file, `${what}: data_offsets [${b}, ${e}] end before they begin`);
  const size = SAFETENSORS_DTYPE_SIZES[dtype as SafetensorsDType];
  const needed = elements * BigInt(size);
  if (needed !== BigInt(e - b)) {
    throw fail(
      file,
      `${what}: data_offsets [${b}, ${e}] hold ${e - b} bytes, but shape ${formatShape(shape)} of ${dtype} ` +
        `needs ${needed} (${elements} elements x ${size} bytes)`,
    );
  }
  if (e > dataLength) {
    throw fail(file, `${what}: data_offsets [${b}, ${e}] are out of range: the data section holds ${dataLength} bytes`);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin: b, end: e };
}

/** The tensors must tile the data section from 0 to its end: no gaps, no overlaps, no trailing bytes. */
function checkCoverage(file: string, entries: SafetensorsEntry[], dataStart: number, dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: SafetensorsEntry | undefined;
  for (const t of entries) {
    const where = `tensor ${JSON.stringify(t.name)} (data_offsets [${t.begin}, ${t.end}])`;
    if (t.begin > covered) {
      throw fail(
        file,
        `at byte ${dataStart + covered}: a gap: data bytes ${covered} to ${t.begin} belong to no tensor ` +
          `(${last ? `after tensor ${JSON.stringify(last.name)}, ` : 'the first tensor must start at 0; '}before ${where})`,
      );
    }
    if (t.begin < covered) {
      throw fail(
        file,
        `at byte ${dataStart + t.begin}: ${where} overlaps tensor ${JSON.stringify(last?.name)} ` +
          `(which ends at data byte ${covered})`,
      );
    }
    covered = t.end;
    last = t;
  }
  if (covered < dataLength) {
    throw fail(
      file,
      `at byte ${dataStart + covered}: ${dataLength - covered} trailing bytes after the last tensor belong to no tensor`,
    );
  }
}

/** The validated header of a safetensors file or buffer, without reading any tensor. */
export function readSafetensorsHeader(source: string | Uint8Array, name?: string): SafetensorsHeader {
  const src = openSource(source, name);
  try {
    return parseHeader(src);
  } finally {
    src.close();
  }
}

// ---- reading ----------------------------------------------------------------------------------

export interface ReadSafetensorsOptions {
  /**
   * The dtype of the tensors made: float32 (default), float64, or a choice per tensor (loadWeights
   * gives float64 where the module's tensor is float64).
   */
  dtype?: DType | ((name: string, stored: SafetensorsDType) => DType);
  /** Backend name for the tensors; the current default when absent. */
  backend?: string | ((name: string) => string | undefined);
  /** Read only these tensors (every tensor is still validated); an unknown name is an error. */
  names?: Iterable<string>;
  /** How errors name an in-memory buffer (default '<buffer>'). */
  name?: string;
}

export interface SafetensorsContents {
  /** In data-offset order (a file written by convkit: the order it was written in). */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
  /** The dtype each tensor had in the file. */
  dtypes: Map<string, SafetensorsDType>;
}

/**
 * Reads a safetensors file (a path) or buffer: every tensor converted to float32 (or float64 per
 * `dtype`), and the metadata. Errors (DataFormatError) name the file and what is wrong.
 */
export function readSafetensors(source: string | Uint8Array, opts: ReadSafetensorsOptions = {}): SafetensorsContents {
  const src = openSource(source, opts.name);
  const tensors = new Map<string, Tensor>();
  try {
    const header = parseHeader(src);
    let wanted: Set<string> | undefined;
    if (opts.names) {
      wanted = new Set(opts.names);
      const known = new Set(header.entries.map((e) => e.name));
      const unknown = [...wanted].filter((n) => !known.has(n));
      if (unknown.length > 0) {
        throw new ArgumentError(src.name, `no tensor named ${unknown.map((n) => JSON.stringify(n)).join(', ')}`);
      }
    }
    const dtypes = new Map<string, SafetensorsDType>();
    for (const entry of header.entries) {
      if (wanted && !wanted.has(entry.name)) continue;
      const dtype = typeof opts.dtype === 'function' ? opts.dtype(entry.name, entry.dtype) : (opts.dtype ?? 'float32');
      if (!isDType(dtype)) {
        throw new ArgumentError(
          src.name,
          `dtype for tensor ${JSON.stringify(entry.name)} must be 'float32' or 'float64', got ${describe(dtype)}`,
        );
      }
      const backend = typeof opts.backend === 'function' ? opts.backend(entry.name) : opts.backend;
      const values = readValues(src, header.dataStart, entry, dtype);
      // backend.write takes its own copy; fromArray would add a second one.
      const target = getBackend(backend);
      tensors.set(entry.name, wrap(target.write(values, dtype), entry.shape, target));
      dtypes.set(entry.name, entry.dtype);
    }
    return { tensors, metadata: header.metadata, dtypes };
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    src.close();
  }
}

/** One tensor's values as `dtype`; F32 into float32 is read straight into the result. */
function readValues(src: ByteSource, dataStart: number, entry: SafetensorsEntry, dtype: DType): FloatArray {
  const count = (entry.end - entry.begin) / SAFETENSORS_DTYPE_SIZES[entry.dtype];
  const out = allocFloat(dtype, count);
  const at = dataStart + entry.begin;
  const length = entry.end - entry.begin;
  if (
    LITTLE_ENDIAN &&
    ((entry.dtype === 'F32' && dtype === 'float32') || (entry.dtype === 'F64' && dtype === 'float64'))
  ) {
    src.read(at, length, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return out;
  }
  const bytes = src.read(at, length);
  decode(src.name, at, entry, bytes, out);
  return out;
}

const scratch = new DataView(new ArrayBuffer(4));

/** Half precision (IEEE 754 binary16) to a number: subnormals, infinities and NaN included. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 (the top 16 bits of a float32) to a number. */
export function bfloat16ToNumber(h: number): number {
  scratch.setUint32(0, (h & 0xffff) << 16);
  return scratch.getFloat32(0);
}

let halfTable: Float32Array | undefined;

function decode(file: string, at: number, entry: SafetensorsEntry, bytes: Uint8Array, out: FloatArray): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = out.length;
  switch (entry.dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      return;
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
      return;
    case 'F16': {
      if (!halfTable) halfTable = Float32Array.from({ length: 65536 }, (_, h) => halfToNumber(h));
      for (let i = 0; i < n; i++) out[i] = halfTable[v.getUint16(2 * i, true)];
      return;
    }
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bfloat16ToNumber(v.getUint16(2 * i, true));
      return;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigInt64(8 * i, true));
      return;
    case 'U64':
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigUint64(8 * i, true));
      return;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = v.getInt32(4 * i, true);
      return;
    case 'U32':
      for (let i = 0; i < n; i++) out[i] = v.getUint32(4 * i, true);
      return;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = v.getInt16(2 * i, true);
      return;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = v.getUint16(2 * i, true);
      return;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = v.getInt8(i);
      return;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = bytes[i];
      return;
    case 'BOOL':
      for (let i = 0; i < n; i++) {
        const b = bytes[i];
        if (b > 1) {
          throw fail(file, `at byte ${at + i}: tensor ${JSON.stringify(entry.name)} is BOOL but holds the byte ${b}`);
        }
        out[i] = b;
      }
      return;
  }
}
