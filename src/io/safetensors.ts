/**
 * Reading safetensors files (the header and its checks: safetensors-header.ts; writing:
 * safetensors-write.ts). The header is read with one small read and checked whole before any
 * tensor is allocated; then each tensor's bytes go straight into its own array (a large file is
 * never held in memory as a whole), converted from any stored dtype to float32 (or float64 on
 * request). docs/formats.md has the rules and the errors.
 */
import { type DType, type FloatArray, isDType } from '../core/dtype.js';
import type { Backend } from '../backend/backend.js';
import { ArgumentError, DataFormatError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { getBackend } from '../backend/registry.js';
import { wrap } from '../ops/util.js';
import { type ByteSource, openSource } from './byte-source.js';
import { bfloat16ToNumber, halfToNumber, LITTLE_ENDIAN } from './elements.js';
import {
  describe,
  parseHeader,
  SAFETENSORS_DTYPE_SIZES,
  type SafetensorsDType,
  type SafetensorsEntry,
} from './safetensors-header.js';

export {
  MAX_HEADER_BYTES,
  readSafetensorsHeader,
  SAFETENSORS_DTYPE_SIZES,
  type SafetensorsDType,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors-header.js';

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
      // A fresh array, read straight from the file: the backend takes it as it is (no copy).
      const target = getBackend(backend);
      const values = readValues(src, header.dataStart, entry, dtype, target);
      tensors.set(entry.name, wrap(target.adopt(values), entry.shape, target));
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

/** One tensor's values as `dtype`, in an array of `target`'s; F32 into float32 is read straight into the result. */
function readValues(
  src: ByteSource,
  dataStart: number,
  entry: SafetensorsEntry,
  dtype: DType,
  target: Backend,
): FloatArray {
  const count = (entry.end - entry.begin) / SAFETENSORS_DTYPE_SIZES[entry.dtype];
  const out = target.allocate(dtype, count);
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
          throw new DataFormatError(
            file,
            `at byte ${at + i}: tensor ${JSON.stringify(entry.name)} is BOOL but holds the byte ${b}`,
          );
        }
        out[i] = b;
      }
      return;
  }
}
