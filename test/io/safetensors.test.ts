import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DataFormatError } from '../../src/core/errors.js';
import { bfloat16ToNumber, halfToNumber } from '../../src/io/elements.js';
import { readSafetensors, readSafetensorsHeader, type SafetensorsDType } from '../../src/io/safetensors.js';
import { encodeSafetensors, writeSafetensors } from '../../src/io/safetensors-write.js';
import { fromArray } from '../../src/ops/creation.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'tensors.safetensors');

interface RawEntry {
  name: string;
  dtype: SafetensorsDType | string;
  shape: unknown;
  bytes: Uint8Array;
  /** Overrides the computed data_offsets. */
  offsets?: unknown;
}

/** A safetensors file's bytes from raw entries, the header JSON written by hand (pass `json` to replace it). */
function build(entries: RawEntry[], opts: { metadata?: unknown; json?: string; extra?: Uint8Array } = {}): Uint8Array {
  const parts: string[] = [];
  if (opts.metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(opts.metadata)}`);
  let offset = 0;
  for (const e of entries) {
    const offsets = e.offsets ?? [offset, offset + e.bytes.length];
    offset += e.bytes.length;
    parts.push(
      `${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: offsets })}`,
    );
  }
  const json = new TextEncoder().encode(opts.json ?? `{${parts.join(',')}}`);
  const data = entries.flatMap((e) => [...e.bytes]);
  const extra = opts.extra ?? new Uint8Array(0);
  const out = new Uint8Array(8 + json.length + data.length + extra.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  out.set(extra, 8 + json.length + data.length);
  return out;
}

function le(kind: 'u16' | 'f32' | 'f64' | 'i64', values: (number | bigint)[]): Uint8Array {
  const size = kind === 'u16' ? 2 : kind === 'f32' ? 4 : 8;
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    if (kind === 'u16') v.setUint16(2 * i, Number(x), true);
    else if (kind === 'f32') v.setFloat32(4 * i, Number(x), true);
    else if (kind === 'f64') v.setFloat64(8 * i, Number(x), true);
    else v.setBigInt64(8 * i, BigInt(x), true);
  });
  return out;
}

let counter = 0;
function file(bytes: Uint8Array): string {
  const path = join(dir, `t${counter++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

/** Same values, NaN equal to NaN and -0 distinct from 0. */
function same(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

function refused(bytes: Uint8Array, pattern: RegExp): void {
  const path = file(bytes);
  assert.throws(
    () => readSafetensors(path),
    (e: unknown) => {
      assert.ok(e instanceof DataFormatError, `expected DataFormatError, got ${String(e)}`);
      assert.ok(e.message.startsWith(`${path}: `), `message does not name ${path}: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
  // The in-memory reader gives the same verdict.
  assert.throws(() => readSafetensors(bytes), pattern);
}

describe('safetensors: dtypes', () => {
  it('F16: normals, subnormals, zeros, infinities and NaN', () => {
    const bits = [0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const want = [0, -0, 1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, NaN, 0.333251953125];
    same(bits.map(halfToNumber), want, 'halfToNumber');
    const bytes = build([{ name: 'h', dtype: 'F16', shape: [3, 4], bytes: le('u16', bits) }]);
    for (const dtype of ['float32', 'float64'] as const) {
      const t = readSafetensors(bytes, { dtype }).tensors.get('h')!;
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [3, 4]);
      same(t.toArray(), want, `F16 as ${dtype}`);
    }
  });

  it('BF16: the top half of a float32, subnormals and specials included', () => {
    const bits = [0x3f80, 0xc020, 0x0001, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x7f7f];
    const f = (b: number): number => new Float32Array(new Uint32Array([b << 16]).buffer)[0];
    const want = bits.map(f);
    assert.equal(want[1], -2.5);
    assert.equal(want[2], 2 ** -133);
    same(bits.map(bfloat16ToNumber), want, 'bfloat16ToNumber');
    const t = readSafetensors(build([{ name: 'b', dtype: 'BF16', shape: [8], bytes: le('u16', bits) }])).tensors.get(
      'b',
    )!;
    same(t.toArray(), want, 'BF16');
  });

  it('integers and BOOL become floats; I64 beyond 2^53 rounds as Number() does', () => {
    const bytes = build([
      { name: 'i64', dtype: 'I64', shape: [4], bytes: le('i64', [-5n, 0n, 2n ** 40n, 2n ** 62n + 1n]) },
      { name: 'scalar', dtype: 'I64', shape: [], bytes: le('i64', [7n]) },
      { name: 'i32', dtype: 'I32', shape: [2], bytes: new Uint8Array(Int32Array.of(-(2 ** 31), 2 ** 31 - 1).buffer) },
      { name: 'u32', dtype: 'U32', shape: [1], bytes: new Uint8Array(Uint32Array.of(2 ** 32 - 1).buffer) },
      { name: 'i16', dtype: 'I16', shape: [2], bytes: new Uint8Array(Int16Array.of(-32768, 32767).buffer) },
      { name: 'u16', dtype: 'U16', shape: [1], bytes: le('u16', [65535]) },
      { name: 'i8', dtype: 'I8', shape: [2], bytes: new Uint8Array(Int8Array.of(-128, 127).buffer) },
      { name: 'u8', dtype: 'U8', shape: [2], bytes: Uint8Array.of(0, 255) },
      { name: 'u64', dtype: 'U64', shape: [1], bytes: new Uint8Array(BigUint64Array.of(2n ** 64n - 1n).buffer) },
      { name: 'bool', dtype: 'BOOL', shape: [3], bytes: Uint8Array.of(1, 0, 1) },
    ]);
    const { tensors, dtypes } = readSafetensors(bytes, { dtype: 'float64' });
    same(tensors.get('i64')!.toArray(), [-5, 0, 2 ** 40, 2 ** 62], 'I64');
    assert.deepEqual(tensors.get('scalar')!.shape, []);
    assert.equal(tensors.get('scalar')!.item(), 7);
    same(tensors.get('i32')!.toArray(), [-(2 ** 31), 2 ** 31 - 1], 'I32');
    same(tensors.get('u32')!.toArray(), [2 ** 32 - 1], 'U32');
    same(tensors.get('i16')!.toArray(), [-32768, 32767], 'I16');
    same(tensors.get('u16')!.toArray(), [65535], 'U16');
    same(tensors.get('i8')!.toArray(), [-128, 127], 'I8');
    same(tensors.get('u8')!.toArray(), [0, 255], 'U8');
    same(tensors.get('u64')!.toArray(), [2 ** 64], 'U64');
    same(tensors.get('bool')!.toArray(), [1, 0, 1], 'BOOL');
    assert.equal(dtypes.get('i64'), 'I64');
  });

  it('F32 and F64 keep every bit (float64 target for F64)', () => {
    const f32 = [1.5, -0, 1e-45, -Infinity, NaN, 0.1];
    const f64 = [Math.PI, 1e-300, -0];
    const bytes = build([
      { name: 'a', dtype: 'F32', shape: [6], bytes: le('f32', f32) },
      { name: 'b', dtype: 'F64', shape: [3], bytes: le('f64', f64) },
    ]);
    const as32 = readSafetensors(bytes).tensors;
    same(as32.get('a')!.toArray(), Float32Array.from(f32), 'F32');
    same(as32.get('b')!.toArray(), Float32Array.from(f64), 'F64 as float32');
    const mixed = readSafetensors(bytes, { dtype: (_, stored) => (stored === 'F64' ? 'float64' : 'float32') }).tensors;
    assert.equal(mixed.get('a')!.dtype, 'float32');
    same(mixed.get('b')!.toArray(), f64, 'F64 as float64');
  });
});

describe('safetensors: the golden file (written by scripts/golden/safetensors_fixture.py with PyTorch)', () => {
  const expected = JSON.parse(readFileSync(`${GOLDEN}.json`, 'utf8')) as {
    order: string[];
    metadata: Record<string, string>;
    tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
  };
  const num = (v: number | string): number =>
    v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number);

  for (const dtype of ['float32', 'float64'] as const) {
    it(`reads every tensor as ${dtype}, in file order, with the metadata`, () => {
      const { tensors, metadata, dtypes } = readSafetensors(GOLDEN, { dtype });
      assert.deepEqual([...tensors.keys()], expected.order);
      assert.deepEqual(metadata, expected.metadata);
      for (const [name, want] of Object.entries(expected.tensors)) {
        const t = tensors.get(name)!;
        assert.deepEqual(t.shape, want.shape, name);
        assert.equal(dtypes.get(name), want.dtype, name);
        const values = want.values.map(num);
        same(t.toArray(), dtype === 'float32' ? Float32Array.from(values) : values, name);
      }
    });
  }

  it('its header is what the reference writer makes: padded with spaces to 8 bytes', () => {
    const header = readSafetensorsHeader(GOLDEN);
    assert.equal(header.headerLength % 8, 0);
    assert.equal(header.dataStart + header.dataLength, statSync(GOLDEN).size);
  });
});

describe('safetensors: writing', () => {
  it('round-trips float32 and float64 tensors with metadata, in the order given', () => {
    const tensors = new Map([
      ['z.weight', fromArray([1, -2.5, 3e-42, NaN, Infinity, -0], [2, 3])],
      ['a.bias', fromArray([Math.PI, 1e-300], [2], { dtype: 'float64' })],
      ['0', fromArray([42], [])],
      ['empty', fromArray([], [0, 4])],
    ]);
    const path = join(dir, 'written.safetensors');
    writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode ✓' });
    const bytes = new Uint8Array(readFileSync(path));
    assert.deepEqual(bytes, encodeSafetensors(tensors, { format: 'pt', note: 'ünïcode ✓' }));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /^\{"__metadata__":\{"format":"pt","note":"ünïcode ✓"\},"z\.weight":/);
    assert.match(text, /\} *$/);
    const back = readSafetensors(path, { dtype: (_, s) => (s === 'F64' ? 'float64' : 'float32') });
    assert.deepEqual([...back.tensors.keys()], ['z.weight', 'a.bias', '0', 'empty']);
    assert.deepEqual(back.dtypes.get('z.weight'), 'F32');
    assert.deepEqual(back.dtypes.get('a.bias'), 'F64');
    for (const [name, t] of tensors) {
      assert.deepEqual(back.tensors.get(name)!.shape, t.shape, name);
      same(back.tensors.get(name)!.toArray(), t.toArray(), name);
    }
    assert.deepEqual(back.metadata, { format: 'pt', note: 'ünïcode ✓' });
  });

  it('refuses metadata that is not strings and the reserved name', () => {
    const t = fromArray([1], [1]);
    assert.throws(() => encodeSafetensors({ x: t }, { n: 1 } as unknown as Record<string, string>), /must be a string/);
    assert.throws(() => encodeSafetensors({ __metadata__: t }), /cannot name a tensor/);
  });
});

describe('safetensors: hostile files are refused, naming the file', () => {
  const ok: RawEntry = { name: 'w', dtype: 'F32', shape: [2], bytes: le('f32', [1, 2]) };
  const two: RawEntry = { name: 'v', dtype: 'F32', shape: [1], bytes: le('f32', [3]) };

  it('shorter than the length field', () => refused(Uint8Array.of(1, 2, 3), /shorter than the 8-byte header length/));
  it('an absurd header length', () => {
    const bytes = build([ok]);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
    refused(bytes, /at byte 0: header length 9223372036854775808 is absurd/);
  });
  it('a header length past the end of the file', () => {
    const bytes = build([ok]);
    new DataView(bytes.buffer).setBigUint64(0, 4096n, true);
    refused(bytes, /header length 4096 runs past the end of the file/);
  });
  it('a header that is not UTF-8', () => {
    const bytes = build([ok]);
    bytes[10] = 0xff;
    refused(bytes, /is not valid UTF-8/);
  });
  it('a header that does not start with {', () => refused(build([], { json: ' {}' }), /must start with '\{'/));
  it('invalid JSON', () => refused(build([], { json: '{"w": ' }), /is not valid JSON/));
  it('an entry that is not an object', () =>
    refused(build([], { json: '{"w":[1,2]}' }), /tensor "w": expected an object/));
  it('an unknown dtype', () =>
    refused(
      build([{ ...ok, dtype: 'F8_E4M3' }]),
      /tensor "w": unknown dtype the string "F8_E4M3" \(convkit reads F64/,
    ));
  it('negative, fractional or non-numeric dims', () => {
    refused(build([{ ...ok, shape: [-2] }]), /shape \[-2\] must hold non-negative integers/);
    refused(build([{ ...ok, shape: [0.5, 4] }]), /must hold non-negative integers, found number 0.5/);
    refused(build([{ ...ok, shape: ['2'] }]), /must hold non-negative integers/);
    refused(build([{ ...ok, shape: 2 }]), /shape must be an array/);
  });
  it('an element count that overflows is compared exactly', () =>
    refused(
      build([{ ...ok, shape: [2 ** 40, 2 ** 40, 2 ** 40] }]),
      /hold 8 bytes, but shape .* needs 5316911983139663491615228241121378304 \(1329227995784915872903807060280344576 elements x 4/,
    ));
  it('data_offsets that disagree with shape x dtype size', () =>
    refused(build([{ ...ok, dtype: 'F64' }]), /data_offsets \[0, 8\] hold 8 bytes, but shape \[2\] of F64 needs 16/));
  it('data_offsets that are not two non-negative integers', () => {
    refused(build([{ ...ok, offsets: [0] }]), /data_offsets must be \[begin, end\]/);
    refused(build([{ ...ok, offsets: [-8, 0] }]), /must be non-negative integers/);
    refused(build([{ ...ok, offsets: [8, 0] }]), /end before they begin/);
  });
  it('data_offsets out of range', () =>
    refused(
      build([{ ...ok, offsets: [8, 16] }]),
      /data_offsets \[8, 16\] are out of range: the data section holds 8 bytes/,
    ));
  it('overlapping tensors', () =>
    refused(
      build([ok, { ...two, offsets: [4, 8] }]),
      /at byte \d+: tensor "v" \(data_offsets \[4, 8\]\) overlaps tensor "w" \(which ends at data byte 8\)/,
    ));
  it('a gap between tensors', () => {
    const bytes = build([ok, { ...two, offsets: [12, 16] }], { extra: new Uint8Array(4) });
    refused(bytes, /a gap: data bytes 8 to 12 belong to no tensor \(after tensor "w"/);
  });
  it('a first tensor that does not start at 0', () =>
    refused(build([{ ...ok, offsets: [4, 12] }], { extra: new Uint8Array(4) }), /the first tensor must start at 0/));
  it('trailing bytes after the last tensor', () =>
    refused(build([ok], { extra: new Uint8Array(3) }), /3 trailing bytes after the last tensor/));
  it('metadata that is not an object of strings', () => {
    refused(
      build([ok], { metadata: { epoch: 3 } }),
      /__metadata__ value for key "epoch" must be a string, got number 3/,
    );
    refused(build([ok], { metadata: ['a'] }), /__metadata__ must be an object of strings/);
  });
  it('a BOOL byte other than 0 or 1, at its byte', () => {
    const bytes = build([{ name: 'm', dtype: 'BOOL', shape: [2], bytes: Uint8Array.of(1, 2) }]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    refused(bytes, new RegExp(`at byte ${8 + n + 1}: tensor "m" is BOOL but holds the byte 2`));
  });
  it('a missing file', () => {
    assert.throws(
      () => readSafetensors(join(dir, 'absent.safetensors')),
      /absent\.safetensors: cannot be read \(ENOENT\)/,
    );
  });
});
