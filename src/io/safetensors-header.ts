/**
 * The safetensors header (Hugging Face's format): an 8-byte little-endian unsigned header length
 * N, N bytes of UTF-8 JSON, then the data section. The JSON maps each tensor name to
 * `{ "dtype", "shape", "data_offsets": [begin, end] }` (offsets relative to the data section) and
 * may hold `"__metadata__": { string: string }`. Tensors are little-endian, row-major, and cover
 * the data section exactly: no gaps, no overlaps, nothing after the last one.
 *
 * The whole header is checked against the file's size here, before any tensor is read or
 * allocated (reading: safetensors.ts; writing: safetensors-write.ts). docs/formats.md has the
 * rules and the errors.
 */
import { DataFormatError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { type ByteSource, openSource } from './byte-source.js';

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

export function parseHeader(src: ByteSource): SafetensorsHeader {
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
