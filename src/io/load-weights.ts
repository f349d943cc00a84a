/**
 * Loading a weight file into a module: the format is recognised by content, not by the file's
 * name, the keys are matched to the module's state dict (stripping the `module.` prefix that
 * DataParallel adds, or `model.`, when the plain keys do not match), and module.loadStateDict
 * does the checking and copying. Safetensors, PyTorch .pth/.pt (zip and legacy) and ONNX files
 * (their weights and batch-norm statistics: io/onnx-import.ts) are read.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { DType } from '../core/dtype.js';
import { DataFormatError, WeightsError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { AnyModule } from '../nn/module.js';
import { type LoadResult, type LoadStateDictOptions, loadStateDict } from '../nn/state-dict.js';
import { openSource } from './byte-source.js';
import { onnxWeights, readOnnxGraph } from './onnx-import.js';
import { openPth, type PthCheckpoint } from './pth.js';
import { isLegacyPth } from './pth-legacy.js';
import { MAX_HEADER_BYTES, readSafetensors, readSafetensorsHeader } from './safetensors.js';
import { openZip } from './zip.js';

export type WeightsFormat = 'safetensors' | 'pth' | 'onnx';

/** Prefixes tried, in order, when the file's keys do not match the module's as they are. */
export const KEY_PREFIXES: readonly string[] = ['module.', 'model.', 'module.model.', 'model.module.'];

export interface LoadWeightsResult extends LoadResult {
  format: WeightsFormat;
  /** The prefix stripped from the file's keys ('' when they matched as they were). */
  strippedPrefix: string;
  /** The file's metadata (safetensors' `__metadata__`; for .pth, the numbers and strings beside the state dict, such as epoch). */
  metadata: Record<string, string>;
}

/** Which weight format `path` holds, judged by its first bytes; a DataFormatError when none convkit reads. */
export function detectWeightsFormat(path: string): WeightsFormat {
  let head: Uint8Array;
  let size: number;
  let fd: number;
  let firstName = '';
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new DataFormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    size = fstatSync(fd).size;
    head = new Uint8Array(Math.min(size, 32));
    readSync(fd, head, 0, head.length, 0);
    if (isZipHead(head) && size >= 30) {
      // The first record's name: torch.save writes <archive>/data.pkl first.
      const local = new Uint8Array(Math.min(size, 30 + 1024));
      readSync(fd, local, 0, local.length, 0);
      const n = new DataView(local.buffer).getUint16(26, true);
      firstName = new TextDecoder().decode(local.subarray(30, Math.min(local.length, 30 + n)));
    }
  } finally {
    closeSync(fd);
  }
  if (head.length >= 9) {
    const n = new DataView(head.buffer).getBigUint64(0, true);
    if (n <= BigInt(MAX_HEADER_BYTES) && 8n + n <= BigInt(size) && head[8] === 0x7b) return 'safetensors';
  }
  if (isLegacyPth(head)) return 'pth';
  if (isZipHead(head)) {
    if (/^([^/]+\/)?data\.pkl$/.test(firstName)) return 'pth';
    // Another first record: look for <archive>/data.pkl in the central directory.
    let names: string[] = [];
    const source = openSource(path);
    try {
      names = [...openZip(source, path).entries.keys()];
    } catch {
      // An unreadable archive is reported below as an unknown format.
    } finally {
      source.close();
    }
    if (names.some((k) => /^([^/]+\/)?data\.pkl$/.test(k))) return 'pth';
  }
  if (isOnnxHead(head)) return 'onnx';
  throw new DataFormatError(
    path,
    `unknown weight format${guess(head)}: convkit reads safetensors, recognised by an 8-byte little-endian ` +
      `header length no larger than the file followed by '{', and PyTorch .pth/.pt checkpoints, recognised as a ` +
      `zip archive holding <archive>/data.pkl or a pickle of PyTorch's magic number (the legacy format), and ONNX ` +
      `models, recognised by a first field ir_version of 3 to 20 (bytes 08 03 to 08 14), and found none of them.`,
  );
}

function isZipHead(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** An ONNX ModelProto starts with field 1 (ir_version, a varint): byte 0x08, then the version. */
function isOnnxHead(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x08 && head[1] >= 3 && head[1] <= 20;
}

/** What the first bytes look like, for the unknown-format error. */
function guess(head: Uint8Array): string {
  if (head.length === 0) return ' (the file is empty)';
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    return ' (a zip archive, but not a readable PyTorch checkpoint: no <archive>/data.pkl record was found)';
  }
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) {
    return " (a Python pickle, but not of PyTorch's magic number, so not a legacy .pth)";
  }
  if (head[0] === 0x08) return ' (perhaps protobuf, as ONNX files are)';
  return '';
}

/** The prefix whose removal matches the most file keys to module keys ('' wins ties). */
function choosePrefix(fileKeys: readonly string[], targets: ReadonlySet<string>): string {
  const score = (prefix: string): number =>
    fileKeys.filter((k) => targets.has(k.startsWith(prefix) ? k.slice(prefix.length) : k)).length;
  let best = '';
  let bestScore = score('');
  for (const p of KEY_PREFIXES) {
    const s = score(p);
    if (s > bestScore) {
      best = p;
      bestScore = s;
    }
  }
  return best;
}

/**
 * Loads a weight file into `module` (strict by default: every missing or unexpected key is an
 * error; shape mismatches always are). Values are cast to each parameter's dtype; a float64
 * module gets F64 values without a detour through float32. Returns loadStateDict's report with
 * the format, the stripped prefix and the file's metadata. A failed load leaves the module as
 * it was.
 */
export function loadWeights(module: AnyModule, path: string, opts: LoadStateDictOptions = {}): LoadWeightsResult {
  const format = detectWeightsFormat(path);
  const pth = format === 'pth' ? openPth(path, { holdOpen: true, whole: true }) : undefined;
  try {
    return loadInto(module, path, format, pth, opts);
  } finally {
    pth?.close();
  }
}

function loadInto(
  module: AnyModule,
  path: string,
  format: WeightsFormat,
  pth: PthCheckpoint | undefined,
  opts: LoadStateDictOptions,
): LoadWeightsResult {
  const targets = module.stateDict({ keepVars: true });
  const onnx = format === 'onnx' ? readOnnxGraph(path) : undefined;
  const onnxBackend = targets.values().next().value?.backend.name;
  const onnxTensors = onnx ? onnxWeights(onnx, { backend: onnxBackend }) : undefined;
  const fileKeys = onnxTensors
    ? [...onnxTensors.keys()]
    : pth
      ? pth.entries.map((e) => e.name)
      : readSafetensorsHeader(path).entries.map((e) => e.name);
  const prefix = choosePrefix(fileKeys, new Set(targets.keys()));
  const mapped = new Map<string, string>();
  const source = new Map<string, string>();
  for (const k of fileKeys) {
    const key = prefix !== '' && k.startsWith(prefix) ? k.slice(prefix.length) : k;
    const clash = source.get(key);
    if (clash !== undefined) {
      throw new WeightsError(
        path,
        `keys ${JSON.stringify(clash)} and ${JSON.stringify(k)} both become ${JSON.stringify(key)} after stripping '${prefix}'`,
      );
    }
    mapped.set(k, key);
    source.set(key, k);
  }
  const targetOf = (name: string): Tensor | undefined => targets.get(mapped.get(name) ?? name);
  const dtypeOf = (name: string): DType => targetOf(name)?.dtype ?? 'float32';
  const backendOf = (name: string): string | undefined => targetOf(name)?.backend.name;
  let tensors: Map<string, Tensor>;
  let metadata: Record<string, string>;
  if (onnxTensors) {
    tensors = onnxTensors;
    metadata = onnx?.producer ? { producer: onnx.producer } : {};
  } else if (pth) {
    tensors = new Map();
    try {
      for (const e of pth.entries) tensors.set(e.name, pth.read(e.name, dtypeOf(e.name), backendOf(e.name)));
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
    metadata = pth.metadata;
  } else {
    ({ tensors, metadata } = readSafetensors(path, { dtype: dtypeOf, backend: backendOf }));
  }
  const renamed = new Map<string, Tensor>();
  for (const [k, t] of tensors) renamed.set(mapped.get(k) ?? k, t);
  try {
    // The read tensors are this load's own (disposed below): the module takes them without a copy.
    // ONNX initialisers are copied, as they may share memory with the graph read.
    const result = loadStateDict(module, renamed, opts, onnxTensors ? 'copy' : 'take');
    return { ...result, format, strippedPrefix: prefix, metadata };
  } catch (e) {
    if (e instanceof WeightsError) {
      const note = prefix ? ` (keys read with the prefix '${prefix}' stripped)` : '';
      const folded =
        onnx && fileKeys.some((k) => k.startsWith('onnx::'))
          ? ' (this ONNX file renamed weights, as torch.onnx.export does when it folds batch norm into convolutions: run it as a graph with importOnnx instead)'
          : '';
      throw new WeightsError(path, `${e.message}${note}${folded}`);
    }
    throw e;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
