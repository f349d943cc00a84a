/**
 * What the weight-file fuzzer (formats.ts) compares a successful load with: an independent
 * safetensors decoder (JSON.parse and DataView, nothing from src/io) and PyTorch's torch.load for
 * .pth files.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FormatName } from './formats.js';

/** What a load gave: tensors in file order as float64 values. */
export interface Loaded {
  names: string[];
  dtypes: string[];
  shapes: number[][];
  values: Float64Array[];
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

/**
 * Loads each mutant convkit read with PyTorch (`torch.load(weights_only=True)`, `/usr/bin/python3`)
 * and returns the disagreements. A legacy file convkit reads must be one torch reads as the same
 * tensors (names, dtypes, shapes, values bit for bit), except where torch refuses for reasons of
 * its version or device: a 7-argument `_rebuild_tensor_v2`, which PyTorch 2 writes; an opcode of
 * pickle protocols 3 to 5 (MEMOIZE, SHORT_BINUNICODE, ...) that 1.13's weights-only unpickler does
 * not know; a CUDA or MPS location, which convkit loads onto its own backend. Zip mutants are only counted in
 * `zipTorchDiffers`: their tensors are already held to the original's, the records' CRC-32s
 * verified, while miniz refuses a few (disk numbers, local headers) and reads others wrongly (an
 * entry whose external attributes are mutated to say "directory" gives uninitialised memory). Only
 * files convkit accepted are given to torch, so their lengths are already checked against the
 * file. Undefined when torch cannot be imported.
 */
export function torchVerdicts(
  mutants: readonly { bytes: Uint8Array; result: Loaded; format: FormatName }[],
  dir: string,
): { problems: string[]; compared: number; zipTorchDiffers: number } | undefined {
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
        out.append(type(e).__name__ + ': ' + str(e)[-240:])
print(json.dumps(out))
`;
  const run = spawnSync('/usr/bin/python3', ['-c', script, dir, String(mutants.length)], {
    encoding: 'utf-8',
    maxBuffer: 1 << 28,
  });
  if (run.status !== 0)
    return { problems: [`python failed: ${run.stderr.slice(-500)}`], compared: 0, zipTorchDiffers: 0 };
  const verdicts = JSON.parse(run.stdout) as (string | Record<string, [string, number[], (number | string)[]]>)[];
  const problems: string[] = [];
  let zipTorchDiffers = 0;
  const excused =
    /takes 6 positional arguments but 7 were given|Unsupported operand|deserialize object on a (CUDA|MPS) device/;
  verdicts.forEach((v, i) => {
    const zip = mutants[i].format === 'pth-zip';
    if (typeof v === 'string') {
      if (zip) zipTorchDiffers++;
      else if (!excused.test(v))
        problems.push(`${mutants[i].format} mutant ${i}: convkit reads it, torch.load refuses it (${v})`);
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
    if (d && zip) zipTorchDiffers++;
    else if (d) problems.push(`${mutants[i].format} mutant ${i}: convkit and torch.load differ: ${d}`);
  });
  return { problems, compared: verdicts.length, zipTorchDiffers };
}
