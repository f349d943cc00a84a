/**
 * The file-format mutation fuzzer: valid weight files (safetensors, .pth zip and legacy, ONNX)
 * mutated byte by byte (set, bit flip, insert, delete, truncate), each loaded, and the outcome
 * judged:
 *
 * - a load either succeeds or throws a convkit error (ConvkitError);
 * - a successful load gives the tensors the bytes hold: for safetensors those of an independent
 *   decoder (JSON.parse and DataView, below); for the zip .pth the original ones exactly (every
 *   record has a CRC-32); for the legacy .pth (no checksum) the original names, dtypes and shapes,
 *   and the original values of every tensor whose storage bytes the mutation left alone, when only
 *   storage bytes changed (other mutants that load are compared with torch.load by
 *   `torchVerdicts`, where PyTorch is installed); for ONNX (no checksum either) the initializers
 *   protobufjs decodes from the mutant's bytes;
 * - memory: the ArrayBuffer bytes alive after a load (read before any GC can free them) grow by at
 *   most `allocationBound(size)`, so a header announcing huge shapes cannot make a reader allocate.
 *
 * The oracles (an independent safetensors decoder, torch.load) are in format-oracles.ts.
 * test/fuzz/formats.test.ts runs a few hundred cases; `npm run fuzz -- --formats` runs many more.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ConvkitError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { exportOnnx } from '../../src/io/onnx-export.js';
import { parseOnnx } from '../../src/io/onnx-graph.js';
import { importOnnx, onnxWeights } from '../../src/io/onnx-import.js';
import { decodeOnnxModel } from '../../src/io/onnx-proto.js';
import { readPth } from '../../src/io/pth.js';
import { readLegacyPth } from '../../src/io/pth-legacy.js';
import { TensorRef } from '../../src/io/pth-pickle.js';
import { findStateDict } from '../../src/io/pth-state-dict.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Flatten } from '../../src/nn/flatten.js';
import { Linear } from '../../src/nn/linear.js';
import { ReLU } from '../../src/nn/activation.js';
import { decodeSafetensorsPlainly, difference, type Loaded } from './format-oracles.js';

export type { Loaded } from './format-oracles.js';
export { torchVerdicts } from './format-oracles.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden');

export type Edit =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number }
  | { kind: 'truncate'; at: number };

/** 1 to 4 edits; positions are taken modulo the file's length when applied. */
export const editsArb: fc.Arbitrary<Edit[]> = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat(255) }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  ),
  { minLength: 1, maxLength: 4 },
);

export interface Mutant {
  bytes: Uint8Array;
  /** Original positions whose byte changed in place ('set', 'flip'). */
  changed: number[];
  /** Whether bytes moved (insert, delete, truncate): positions after the first such edit mean nothing. */
  moved: boolean;
}

export function applyEdits(original: Uint8Array, edits: readonly Edit[]): Mutant {
  let bytes = original.slice();
  const changed: number[] = [];
  let moved = false;
  for (const e of edits) {
    const at = bytes.length === 0 ? 0 : e.at % (e.kind === 'insert' ? bytes.length + 1 : bytes.length);
    if (e.kind === 'set' || e.kind === 'flip') {
      if (bytes.length === 0) continue;
      const was = bytes[at];
      bytes[at] = e.kind === 'set' ? e.byte : was ^ (1 << e.bit);
      if (bytes[at] !== was && !moved) changed.push(at);
    } else if (e.kind === 'insert') {
      bytes = Uint8Array.from([...bytes.subarray(0, at), e.byte, ...bytes.subarray(at)]);
      moved = true;
    } else if (e.kind === 'delete') {
      bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
      moved = true;
    } else {
      bytes = bytes.slice(0, at);
      moved = true;
    }
  }
  return { bytes, changed, moved };
}

function plain(tensors: Map<string, Tensor>, dtypes: Map<string, string>): Loaded {
  const out: Loaded = { names: [], dtypes: [], shapes: [], values: [] };
  for (const [k, t] of tensors) {
    out.names.push(k);
    out.dtypes.push(dtypes.get(k) ?? '?');
    out.shapes.push([...t.shape]);
    out.values.push(Float64Array.from(t.toArray()));
    t.dispose();
  }
  return out;
}

// ---- the formats ---------------------------------------------------------------------------------

export interface FormatSpec {
  name: FormatName;
  /** The valid file the mutants come from. */
  fixture(): Uint8Array;
  load(bytes: Uint8Array): Loaded;
  /** Why a successful load of `m` is wrong, or undefined. */
  judge(original: Loaded, originalBytes: Uint8Array, m: Mutant, loaded: Loaded): string | undefined;
  /** Whether a failed load threw what it should. */
  acceptError(e: unknown): boolean;
}

export type FormatName = 'safetensors' | 'pth-zip' | 'pth-legacy' | 'onnx';

const isConvkit = (e: unknown): boolean => e instanceof ConvkitError;
const readGolden = (...path: string[]): Uint8Array => new Uint8Array(readFileSync(join(GOLDEN, ...path)));

/** Storage byte ranges of a legacy file and which tensors (by index) view each. */
function legacyLayout(bytes: Uint8Array): { begin: number; end: number; tensors: number[] }[] {
  const { root, storages } = readLegacyPth(bytes, 'fixture');
  const dict = findStateDict(root)?.dict ?? new Map<string, TensorRef>();
  const refs = [...dict.values()];
  return [...storages].map(([key, data]) => ({
    begin: data.byteOffset - bytes.byteOffset,
    end: data.byteOffset - bytes.byteOffset + data.length,
    tensors: refs.flatMap((r, i) => (r instanceof TensorRef && r.storage.key === key ? [i] : [])),
  }));
}

function pthLoad(bytes: Uint8Array): Loaded {
  const r = readPth(bytes, { dtype: 'float64', backend: 'ref', name: 'mutant' });
  return plain(r.tensors, r.dtypes);
}

export const FORMATS: Record<FormatName, FormatSpec> = {
  safetensors: {
    name: 'safetensors',
    fixture: () => readGolden('tensors.safetensors'),
    load(bytes) {
      const r = readSafetensors(bytes, { dtype: 'float64', backend: 'ref', name: 'mutant' });
      return plain(r.tensors, r.dtypes);
    },
    judge: (_original, _bytes, m, loaded) => difference(decodeSafetensorsPlainly(m.bytes), loaded),
    acceptError: isConvkit,
  },
  'pth-zip': {
    name: 'pth-zip',
    fixture: () => readGolden('pth', 'tiny.pth'),
    load: pthLoad,
    judge: (original, _bytes, _m, loaded) => difference(original, loaded),
    acceptError: isConvkit,
  },
  'pth-legacy': {
    name: 'pth-legacy',
    fixture: () => readGolden('pth', 'legacy_tiny.pth'),
    load: pthLoad,
    judge(original, bytes, m, loaded) {
      const layout = legacyLayout(bytes);
      const inData = (p: number): boolean => layout.some((s) => p >= s.begin && p < s.end);
      if (m.moved || !m.changed.every(inData)) return undefined; // torchVerdicts compares these
      const touched = new Set(
        layout.filter((s) => m.changed.some((p) => p >= s.begin && p < s.end)).flatMap((s) => s.tensors),
      );
      return difference(original, loaded, (i) => !touched.has(i));
    },
    acceptError: isConvkit,
  },
  onnx: {
    name: 'onnx',
    fixture: onnxFixture,
    load(bytes) {
      // The whole import (checks, order, a shape dry run), then the weights it found.
      const module = importOnnx(bytes, { backend: 'ref' });
      module.dispose();
      const weights = onnxWeights(parseOnnx(bytes, 'mutant'), { backend: 'ref' });
      return plain(weights, new Map([...weights.keys()].map((k) => [k, 'F32'])));
    },
    // ONNX has no checksum: what was read must be what protobufjs decodes from the same bytes.
    judge: (_original, _bytes, m, loaded) => difference(decodeOnnxPlainly(m.bytes, loaded.names), loaded),
    acceptError: isConvkit,
  },
};

/** The float initializers protobufjs decodes, in the order of `names` (an independent reading). */
function decodeOnnxPlainly(bytes: Uint8Array, names: readonly string[]): Loaded {
  const inits = new Map((decodeOnnxModel(bytes).graph?.initializer ?? []).map((t) => [String(t.name), t]));
  const out: Loaded = { names: [], dtypes: [], shapes: [], values: [] };
  for (const name of names) {
    const t = inits.get(name);
    const shape = (t?.dims ?? []).map(Number);
    let values = new Float64Array(0);
    if (t?.rawData && t.rawData.length > 0) {
      const raw = t.rawData;
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      values = Float64Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
    } else if (t?.floatData) values = Float64Array.from(t.floatData, (v) => Math.fround(v));
    else if (t === undefined && name.endsWith('num_batches_tracked')) values = new Float64Array(1);
    out.names.push(name);
    out.dtypes.push('F32');
    out.shapes.push(t === undefined ? [] : shape);
    out.values.push(values);
  }
  return out;
}

let onnxBytes: Uint8Array | undefined;
function onnxFixture(): Uint8Array {
  if (onnxBytes) return onnxBytes;
  manualSeed(5);
  const net = new Sequential(new Conv2d(1, 2, 3), new ReLU(), new Flatten(), new Linear(8, 3));
  onnxBytes = noGrad(() => exportOnnx(net, { input: [1, 4, 4] }));
  net.dispose();
  return onnxBytes;
}

/** The growth of live ArrayBuffer memory a load may cause: float64 per stored byte, twice, and 2 MiB. */
export function allocationBound(size: number): number {
  return 16 * size + 2 * 2 ** 20;
}

export interface FormatOutcome {
  read: number;
  refused: number;
  /** Mutants that loaded, kept for a comparison with PyTorch (pth formats only). */
  loaded: { bytes: Uint8Array; result: Loaded; format: FormatName }[];
}

/** One mutant: throws (for fast-check) when the outcome breaks a rule. */
export function checkMutant(
  spec: FormatSpec,
  original: Loaded,
  originalBytes: Uint8Array,
  edits: readonly Edit[],
  outcome: FormatOutcome,
  opts: { strictErrors?: boolean } = {},
): void {
  const m = applyEdits(originalBytes, edits);
  const before = process.memoryUsage().arrayBuffers;
  let loaded: Loaded | undefined;
  let error: unknown;
  try {
    loaded = spec.load(m.bytes);
  } catch (e) {
    error = e;
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  if (grown > allocationBound(m.bytes.length)) {
    throw new Error(`${spec.name}: a load of ${m.bytes.length} bytes grew ArrayBuffer memory by ${grown} bytes`);
  }
  if (!loaded) {
    const ok = opts.strictErrors ? isConvkit(error) : spec.acceptError(error);
    if (!ok) throw new Error(`${spec.name}: a load threw ${String(error)}, not a convkit error`);
    outcome.refused++;
    return;
  }
  outcome.read++;
  const problem = spec.judge(original, originalBytes, m, loaded);
  if (problem) throw new Error(`${spec.name}: a mutant loaded with wrong tensors: ${problem}`);
  if (spec.name.startsWith('pth') && edits.length > 0)
    outcome.loaded.push({ bytes: m.bytes, result: loaded, format: spec.name });
}

/** Runs `runs` mutants of a format's fixture; fast-check's report on failure (seed, path, shrunk edits). */
export function fuzzFormat(
  name: FormatName,
  runs: number,
  seed: number,
  opts: { strictErrors?: boolean } = {},
): { outcome: FormatOutcome; failure?: string } {
  const spec = FORMATS[name];
  const bytes = spec.fixture();
  const original = spec.load(bytes);
  spec.load(bytes); // warm-up: lazily built tables are not the mutant's allocation
  const outcome: FormatOutcome = { read: 0, refused: 0, loaded: [] };
  const details = fc.check(
    fc.property(editsArb, (edits) => checkMutant(spec, original, bytes, edits, outcome, opts)),
    { numRuns: runs, seed },
  );
  if (!details.failed) return { outcome };
  return {
    outcome,
    failure: `${name}: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}\n  seed ${details.seed}, path ${details.counterexamplePath}, edits ${JSON.stringify(details.counterexample?.[0])}`,
  };
}
