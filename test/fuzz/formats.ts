/**
 * The file-format mutation fuzzer: valid weight files (safetensors, .pth zip and legacy, ONNX)
 * mutated byte by byte (set, bit flip, insert, delete, truncate), each loaded, and the outcome
 * judged:
 *
 * - a load either succeeds or throws a convkit error (ConvkitError); ONNX decoding, which is
 *   protobufjs's until the ONNX import work wraps it, may throw any Error (see `onnx.strict`);
 * - a successful load gives the tensors the bytes hold: for safetensors those of an independent
 *   decoder (JSON.parse and DataView, below); for the zip .pth the original ones exactly (every
 *   record has a CRC-32); for the legacy .pth (no checksum) the original names, dtypes and shapes,
 *   and the original values of every tensor whose storage bytes the mutation left alone, when only
 *   storage bytes changed (other mutants that load are compared with torch.load by
 *   `torchVerdicts`, where PyTorch is installed);
 * - memory: the ArrayBuffer bytes alive after a load (read before any GC can free them) grow by at
 *   most `allocationBound(size)`, so a header announcing huge shapes cannot make a reader allocate.
 *
 * test/fuzz/formats.test.ts runs a few hundred cases; `npm run fuzz -- --formats` runs many more.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ConvkitError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { exportOnnx } from '../../src/io/onnx-export.js';
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

/** What a load gave: tensors in file order as float64 values. */
export interface Loaded {
  names: string[];
  dtypes: string[];
  shapes: number[][];
  values: Float64Array[];
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

/** The first difference between two loads, or undefined; `only` limits the value comparison. */
export function difference(a: Loaded, b: Loaded, only?: (i: number) => boolean): string | undefined {
  if (a.names.join('\n') !== b.names.join('\n')) return `names [${b.names}] instead of [${a.names}]`;
  for (let i = 0; i < a.names.length; i++) {
    const n = a.names[i];
    if (a.dtypes[i] !== b.dtypes[i]) return `${n}: dtype ${b.dtypes[i]} instead of ${a.dtypes[i]}`;
    if (a.shapes[i].join() !== b.shapes[i].join()) return `${n}: shape [${b.shapes[i]}] instead of [${a.shapes[i]}]`;
    if (only && !only(i)) continue;
    for (let j = 0; j < a.values[i].length; j++) {
      if (!Object.is(a.values[i][j], b.values[i][j]))
        return `${n}[${j}]: ${b.values[i][j]} instead of ${a.values[i][j]}`;
    }
  }
  return undefined;
}

// ---- safetensors: an independent decoder ---------------------------------------------------------

const SIZES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

function element(v: DataView, at: number, dtype: string): number {
  switch (dtype) {
    case 'F64':
      return v.getFloat64(at, true);
    case 'F32':
      return v.getFloat32(at, true);
    case 'F16': {
      const h = v.getUint16(at, true);
      const e = (h >> 10) & 31;
      const m = h & 1023;
      const s = h >> 15 ? -1 : 1;
      if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
      return e === 0 ? s * m * 2 ** -24 : s * (1024 + m) * 2 ** (e - 25);
    }
    case 'BF16':
      return new Float32Array(Uint32Array.of(v.getUint16(at, true) * 65536).buffer)[0];
    case 'I64':
      return Number(v.getBigInt64(at, true));
    case 'U64':
      return Number(v.getBigUint64(at, true));
    case 'I32':
      return v.getInt32(at, true);
    case 'U32':
      return v.getUint32(at, true);
    case 'I16':
      return v.getInt16(at, true);
    case 'U16':
      return v.getUint16(at, true);
    case 'I8':
      return v.getInt8(at);
    default:
      return v.getUint8(at);
  }
}

/** What the bytes of a safetensors file say, read as plainly as possible (for files convkit accepted). */
export function decodeSafetensorsPlainly(bytes: Uint8Array): Loaded {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const entries = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1]);
  const out: Loaded = { names: [], dtypes: [], shapes: [], values: [] };
  for (const [name, e] of entries) {
    const size = SIZES[e.dtype];
    const count = (e.data_offsets[1] - e.data_offsets[0]) / size;
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = element(view, 8 + n + e.data_offsets[0] + i * size, e.dtype);
    out.names.push(name);
    out.dtypes.push(e.dtype);
    out.shapes.push(e.shape);
    out.values.push(values);
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
      const model = decodeOnnxModel(bytes);
      const inits = model.graph?.initializer ?? [];
      return { names: inits.map((t) => String(t.name)), dtypes: [], shapes: [], values: [] };
    },
    judge: () => undefined,
    // protobufjs's own errors until src/io/onnx-import.ts wraps decoding in DataFormatError.
    acceptError: (e) => e instanceof Error,
  },
};

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

/**
 * Loads each mutant convkit read with PyTorch (`torch.load(weights_only=True)`, `/usr/bin/python3`)
 * and returns the disagreements: where torch reads a file too, the tensors must be the same (names,
 * dtypes, shapes, values bit for bit). A legacy file that convkit reads and torch refuses is a
 * disagreement too; a zip one is counted in `lenient` instead: convkit's zip reader overlooks a few
 * fields miniz checks (disk numbers, local headers that differ from the central directory), and
 * the zip property already holds its tensors to the original's. Only files convkit accepted are
 * given to torch, so their lengths are already checked against the file. Undefined when torch
 * cannot be imported.
 */
export function torchVerdicts(
  mutants: readonly { bytes: Uint8Array; result: Loaded; format: FormatName }[],
  dir: string,
): { problems: string[]; compared: number; lenient: number } | undefined {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf-8' });
  if (probe.status !== 0) return undefined;
  mutants.forEach((m, i) => writeFileSync(join(dir, `m${i}.pth`), m.bytes));
  const script = `
import json, math, sys, torch
out = []
for i in range(int(sys.argv[2])):
    try:
        sd = torch.load(f'{sys.argv[1]}/m{i}.pth', weights_only=True)
        out.append({k: [str(v.dtype)[6:], list(v.shape), [x if math.isfinite(x) else str(x) for x in v.double().reshape(-1).tolist()]] for k, v in sd.items()})
    except Exception as e:
        out.append(type(e).__name__ + ': ' + str(e)[:200])
print(json.dumps(out))
`;
  const run = spawnSync('/usr/bin/python3', ['-c', script, dir, String(mutants.length)], {
    encoding: 'utf-8',
    maxBuffer: 1 << 28,
  });
  if (run.status !== 0) return { problems: [`python failed: ${run.stderr.slice(-500)}`], compared: 0, lenient: 0 };
  const verdicts = JSON.parse(run.stdout) as (string | Record<string, [string, number[], (number | string)[]]>)[];
  const problems: string[] = [];
  let lenient = 0;
  verdicts.forEach((v, i) => {
    if (typeof v === 'string') {
      if (mutants[i].format === 'pth-zip') lenient++;
      else problems.push(`${mutants[i].format} mutant ${i}: convkit reads it, torch.load refuses it (${v})`);
      return;
    }
    const theirs: Loaded = { names: Object.keys(v), dtypes: [], shapes: [], values: [] };
    for (const [dtype, shape, values] of Object.values(v)) {
      theirs.dtypes.push(dtype);
      theirs.shapes.push(shape);
      theirs.values.push(
        Float64Array.from(values, (x) => (typeof x === 'number' ? x : Number(x.replace('inf', 'Infinity')))),
      );
    }
    const d = difference(theirs, mutants[i].result);
    if (d) problems.push(`${mutants[i].format} mutant ${i}: convkit and torch.load differ: ${d}`);
  });
  return { problems, compared: verdicts.length, lenient };
}
