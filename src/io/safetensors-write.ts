/**
 * Writing safetensors files (the format and the reading side: safetensors.ts): float32 tensors as
 * F32 and float64 ones as F64, or every tensor as the `dtype` asked for (F16 and BF16 rounded as
 * PyTorch rounds, elements.ts), in the order given, with the header padded with spaces to a multiple
 * of 8 bytes as the reference writer does; files are written atomically (temporary file, fsync,
 * rename). docs/formats.md has the rules.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import {
  checkWeightDType,
  encodeElements,
  STORED_SIZES,
  type StoredDType,
  storedDType,
  type WeightDType,
} from './elements.js';
import { describe, isRecord } from './safetensors-header.js';

export type TensorSource = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

interface Planned {
  name: string;
  tensor: Tensor;
  dtype: StoredDType;
  begin: number;
  end: number;
}

function plan(
  op: string,
  tensors: TensorSource,
  metadata: Readonly<Record<string, string>> | undefined,
  requested: WeightDType | undefined,
): {
  header: Uint8Array;
  items: Planned[];
} {
  checkWeightDType(op, requested);
  const pairs = tensors instanceof Map ? [...tensors] : Object.entries(tensors as Record<string, Tensor>);
  const items: Planned[] = [];
  let offset = 0;
  for (const [name, tensor] of pairs) {
    if (typeof name !== 'string' || name === '__metadata__') {
      throw new ArgumentError(op, `${JSON.stringify(name)} cannot name a tensor in a safetensors file`);
    }
    if (!tensor.backend.hasData) {
      throw new ArgumentError(
        op,
        `tensor ${JSON.stringify(name)} is on the '${tensor.backend.name}' backend and has no values`,
      );
    }
    const dtype = storedDType(name, tensor.dtype, requested, false);
    const end = offset + tensor.size * STORED_SIZES[dtype];
    items.push({ name, tensor, dtype, begin: offset, end });
    offset = end;
  }
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isRecord(metadata)) throw new ArgumentError(op, `metadata must be an object of strings`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new ArgumentError(op, `metadata value for key ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
      }
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  for (const t of items) {
    const info = { dtype: t.dtype, shape: t.tensor.shape, data_offsets: [t.begin, t.end] };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(info)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, items };
}

/** A safetensors file's bytes in memory (for small dicts and tests; writeSafetensors streams). */
export function encodeSafetensors(
  tensors: TensorSource,
  metadata?: Readonly<Record<string, string>>,
  opts: EncodeSafetensorsOptions = {},
): Uint8Array {
  const { header, items } = plan('encodeSafetensors', tensors, metadata, opts.dtype);
  const total = header.length + (items.length > 0 ? items[items.length - 1].end : 0);
  const out = new Uint8Array(total);
  out.set(header);
  for (const t of items) out.set(encodeElements(t.tensor.toArray(), t.dtype), header.length + t.begin);
  return out;
}

/** The points of a write that WriteSafetensorsOptions.onStage hears about, in order. */
export type SafetensorsWriteStage = 'opened' | 'header' | 'tensor' | 'synced' | 'closed' | 'renamed';

export interface EncodeSafetensorsOptions {
  /**
   * Store every tensor as this dtype (default: F32 for float32 tensors, F64 for float64 ones).
   * Under F16 and BF16, num_batches_tracked is stored as I64, as PyTorch's `model.half()` keeps it.
   */
  dtype?: WeightDType;
}

export interface WriteSafetensorsOptions extends EncodeSafetensorsOptions {
  /**
   * fsync the file before the rename and its folder after (default false): after a crash or a
   * power cut the path holds the old file or the new one, whole.
   */
  durable?: boolean;
  /** The temporary file beside `path` (default `<path>.<pid>.tmp`). */
  temporary?: string;
  /** Told each stage as it completes ('tensor' once per tensor); tests throw here to cut a write short. */
  onStage?: (stage: SafetensorsWriteStage) => void;
}

/**
 * Writes tensors (a state dict, a Map or a record; float32 as F32, float64 as F64, or all as
 * `opts.dtype`) in the order given, with optional string metadata. The file appears whole or not at all: it is written
 * next to `path` and renamed into place; on an error before the rename the temporary file is
 * removed and `path` is untouched.
 */
export function writeSafetensors(
  path: string,
  tensors: TensorSource,
  metadata?: Readonly<Record<string, string>>,
  opts: WriteSafetensorsOptions = {},
): void {
  const { header, items } = plan('writeSafetensors', tensors, metadata, opts.dtype);
  const tmp = opts.temporary ?? `${path}.${process.pid}.tmp`;
  const stage = opts.onStage ?? ((): void => {});
  let renamed = false;
  try {
    const fd = openSync(tmp, 'w');
    try {
      stage('opened');
      writeAll(fd, header);
      stage('header');
      for (const t of items) {
        writeAll(fd, encodeElements(t.tensor.toArray(), t.dtype));
        stage('tensor');
      }
      if (opts.durable) {
        fsyncSync(fd);
        stage('synced');
      }
    } finally {
      closeSync(fd);
    }
    stage('closed');
    renameSync(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) rmSync(tmp, { force: true });
  }
  if (opts.durable) syncFolder(dirname(path));
  stage('renamed');
}

/** fsync a folder so a rename in it survives a crash (a no-op where folders cannot be opened, as on Windows). */
function syncFolder(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on folders; the rename itself is done.
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
}
