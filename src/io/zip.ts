/**
 * A minimal zip reader and writer, enough for the archives `torch.save` writes: stored
 * (uncompressed) entries, with deflate read through node:zlib in case a tool recompressed the
 * archive, zip64 end records and sizes read. Everything is checked against the buffer's length
 * before it is used, so a truncated or corrupt archive is a DataFormatError naming the file and
 * the byte, never a read past the end or an allocation the file does not justify.
 *
 * The writer lays records out as PyTorch's does (caffe2/serialize/inline_container.cc): each
 * entry's data starts at a multiple of 64 bytes, the local header's extra field `FB` padding it
 * there, so a reader can map a storage in place.
 */
import { inflateRawSync } from 'node:zlib';
import * as zlib from 'node:zlib';
import { DataFormatError } from '../core/errors.js';
import { loadNativeAddon } from '../backend/native/index.js';
import { type ByteSource, openSource } from './byte-source.js';

/** One entry of the central directory. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Where the entry's local header starts. */
  headerOffset: number;
}

export interface ZipArchive {
  file: string;
  /** By name, in central-directory order. */
  entries: Map<string, ZipEntry>;
  /** An entry's bytes (a view of the buffer for a stored entry of an archive in memory); CRC checked. */
  read(name: string): Uint8Array;
  /**
   * A stored entry of exactly `into.length` bytes read straight into `into`, CRC checked; false
   * (nothing read) for a compressed entry or another size.
   */
  readInto(name: string, into: Uint8Array): boolean;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** Deflate cannot expand more than this (RFC 1951's best case is about 1032:1). */
const MAX_DEFLATE_RATIO = 1032;

/** True when `bytes` start with a local file header (`PK\3\4`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

let crcTable: Uint32Array | undefined;

/**
 * Buffers from this size on are summed by the native addon (when it loads): about twice node:zlib's
 * speed on large ones. Most of a checkpoint's records are small (DenseNet-121 has 727): from 4 KiB
 * rather than 1 MiB, its load took 54 instead of 59 ms (medians of 6 alternating fresh processes).
 */
const NATIVE_CRC_FROM = 2 ** 12;

/** CRC-32 (zip's): the native addon's for large buffers, else node:zlib's when this Node has it. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  if (bytes.length >= NATIVE_CRC_FROM) {
    const addon = loadNativeAddon();
    if (!('error' in addon)) return addon.crc32(bytes, previous);
  }
  const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  if (native) return native(bytes, previous);
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Little-endian fields of `bytes`, a part of the file starting at byte `base`: positions are the file's. */
function fieldsOf(bytes: Uint8Array, base: number) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    u16: (at: number): number => view.getUint16(at - base, true),
    u32: (at: number): number => view.getUint32(at - base, true),
    u64: (at: number): bigint => view.getBigUint64(at - base, true),
    bytes: (at: number, n: number): Uint8Array => bytes.subarray(at - base, at - base + n),
  };
}

/**
 * Parses the central directory of a zip archive: in `source` (bytes, or a file read by ranges:
 * then only its end, its directory and the records asked for are read).
 */
export function openZip(source: Uint8Array | ByteSource, file: string): ZipArchive {
  const src = source instanceof Uint8Array ? openSource(source, file) : source;
  const size = src.size;
  const fail = (at: number, detail: string): DataFormatError =>
    new DataFormatError(file, `at byte ${at}: ${detail} (a truncated or corrupt zip archive)`);
  const checked = (v: bigint, at: number, what: string): number => {
    if (v > BigInt(size)) throw fail(at, `${what} ${v} is past the end of the ${size}-byte file`);
    return Number(v);
  };

  // The end of central directory record: the last one in the final 64 KiB + 22 bytes (read with
  // the 20 bytes before, where a zip64 locator would be).
  const tailStart = Math.max(0, size - 22 - 0xffff - 20);
  const tail = fieldsOf(src.read(tailStart, size - tailStart), tailStart);
  let eocd = -1;
  for (let at = size - 22; at >= Math.max(0, size - 22 - 0xffff); at--) {
    if (tail.u32(at) === EOCD && at + 22 + tail.u16(at + 20) <= size) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    throw new DataFormatError(
      file,
      `no zip end-of-central-directory record in the last ${Math.min(size, 22 + 0xffff)} bytes (a truncated or corrupt zip archive)`,
    );
  }
  let count = tail.u16(eocd + 10);
  let cdSize = tail.u32(eocd + 12);
  let cdOffset = tail.u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tail.u32(loc) !== ZIP64_LOCATOR)
      throw fail(eocd, 'zip64 sizes announced but no zip64 locator before the end record');
    const rec = checked(tail.u64(loc + 8), loc + 8, 'the zip64 end record offset');
    const end64 = rec + 56 <= size ? fieldsOf(src.read(rec, 56), rec) : undefined;
    if (!end64 || end64.u32(rec) !== ZIP64_EOCD) throw fail(loc + 8, 'the zip64 end record is missing');
    count = checked(end64.u64(rec + 32), rec + 32, 'the entry count');
    cdSize = checked(end64.u64(rec + 40), rec + 40, 'the central directory size');
    cdOffset = checked(end64.u64(rec + 48), rec + 48, 'the central directory offset');
  }
  if (cdOffset + cdSize > size) {
    throw fail(
      eocd + 16,
      `the central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the ${size}-byte file`,
    );
  }
  // Each central entry is at least 46 bytes: a count the directory cannot hold is corrupt.
  if (count * 46 > cdSize) throw fail(eocd + 10, `${count} entries cannot fit a ${cdSize}-byte central directory`);

  const cd = fieldsOf(src.read(cdOffset, cdSize), cdOffset);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cdOffset + cdSize || cd.u32(at) !== CENTRAL)
      throw fail(at, `central directory entry ${i} is missing or corrupt`);
    const method = cd.u16(at + 10);
    const crc = cd.u32(at + 16);
    let compressedSize = cd.u32(at + 20);
    let dataSize = cd.u32(at + 24);
    const nameLength = cd.u16(at + 28);
    const extraLength = cd.u16(at + 30);
    const commentLength = cd.u16(at + 32);
    let headerOffset = cd.u32(at + 42);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > cdOffset + cdSize) throw fail(at, `central directory entry ${i} runs past the directory's end`);
    const name = decoder.decode(cd.bytes(at + 46, nameLength));
    // The zip64 extra field holds, in order, whichever of the three values are 0xffffffff.
    let x = at + 46 + nameLength;
    const xEnd = x + extraLength;
    while (x + 4 <= xEnd) {
      const id = cd.u16(x);
      const len = cd.u16(x + 2);
      if (x + 4 + len > xEnd) throw fail(x, `entry ${JSON.stringify(name)}: an extra field runs past its end`);
      if (id === 0x0001) {
        let p = x + 4;
        const take = (what: string): number => {
          if (p + 8 > x + 4 + len) throw fail(p, `entry ${JSON.stringify(name)}: the zip64 field lacks the ${what}`);
          const v = checked(cd.u64(p), p, `entry ${JSON.stringify(name)}'s ${what}`);
          p += 8;
          return v;
        };
        if (dataSize === 0xffffffff) dataSize = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (headerOffset === 0xffffffff) headerOffset = take('header offset');
      }
      x += 4 + len;
    }
    if (headerOffset + 30 > size)
      throw fail(at + 42, `entry ${JSON.stringify(name)}'s header offset ${headerOffset} is past the end`);
    if (!entries.has(name))
      entries.set(name, { name, method, crc32: crc, compressedSize, size: dataSize, headerOffset });
    at = end;
  }

  /** Where a record's data starts, checked against its local header and the file's end. */
  const dataStart = (e: ZipEntry): number => {
    const h = e.headerOffset;
    const local = fieldsOf(src.read(h, 30), h);
    if (local.u32(h) !== LOCAL)
      throw fail(h, `record ${JSON.stringify(e.name)}: no local header where the directory says`);
    const start = h + 30 + local.u16(h + 26) + local.u16(h + 28);
    if (start + e.compressedSize > size) {
      throw fail(
        start,
        `record ${JSON.stringify(e.name)} (${e.compressedSize} bytes) runs past the end of the ${size}-byte file`,
      );
    }
    if (e.method === 0 && e.size !== e.compressedSize)
      throw fail(h, `stored record ${JSON.stringify(e.name)} has sizes ${e.compressedSize} and ${e.size}`);
    return start;
  };
  const checkCrc = (e: ZipEntry, start: number, data: Uint8Array): void => {
    const sum = crc32(data);
    if (sum !== e.crc32) {
      throw fail(
        start,
        `record ${JSON.stringify(e.name)} fails its CRC-32 check (${hex(sum)}, the directory says ${hex(e.crc32)})`,
      );
    }
  };
  const entry = (name: string): ZipEntry => {
    const e = entries.get(name);
    if (!e) throw new DataFormatError(file, `the archive has no record ${JSON.stringify(name)}`);
    return e;
  };

  const read = (name: string): Uint8Array => {
    const e = entry(name);
    const start = dataStart(e);
    const raw = src.read(start, e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      data = raw;
    } else if (e.method === 8) {
      if (e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) {
        throw fail(
          start,
          `record ${JSON.stringify(name)} claims ${e.size} bytes from ${e.compressedSize} compressed ones, more than deflate can give`,
        );
      }
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        throw fail(start, `record ${JSON.stringify(name)} does not inflate: ${(err as Error).message}`);
      }
      if (data.length !== e.size)
        throw fail(start, `record ${JSON.stringify(name)} inflates to ${data.length} bytes, not ${e.size}`);
    } else {
      throw fail(
        e.headerOffset,
        `record ${JSON.stringify(name)} uses compression method ${e.method}; convkit reads stored (0) and deflate (8)`,
      );
    }
    checkCrc(e, start, data);
    return data;
  };
  const readInto = (name: string, into: Uint8Array): boolean => {
    const e = entry(name);
    if (e.method !== 0 || e.size !== into.length) return false;
    const start = dataStart(e);
    src.read(start, e.size, into);
    checkCrc(e, start, into);
    return true;
  };
  return { file, entries, read, readInto };
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

// ---- writing ----------------------------------------------------------------------------------

/** One record to write: its name and its bytes (one part or several, written back to back). */
export interface ZipRecord {
  name: string;
  data: Uint8Array | readonly Uint8Array[];
}

/** The 64-byte alignment of record data that PyTorch's writer uses. */
export const ZIP_ALIGNMENT = 64;

/**
 * Writes a stored zip archive record by record through `write`, data aligned to 64 bytes as
 * PyTorch's writer aligns it. Returns the archive's length. Archives past 4 GiB (zip64) are refused.
 */
export function writeStoredZip(records: Iterable<ZipRecord>, write: (bytes: Uint8Array) => void, what: string): number {
  const encoder = new TextEncoder();
  const central: Uint8Array[] = [];
  let offset = 0;
  let count = 0;
  const put = (b: Uint8Array): void => {
    write(b);
    offset += b.length;
  };
  for (const r of records) {
    const parts = r.data instanceof Uint8Array ? [r.data] : r.data;
    const name = encoder.encode(r.name);
    let size = 0;
    let crc = 0;
    for (const p of parts) {
      size += p.length;
      crc = crc32(p, crc);
    }
    const headerOffset = offset;
    let pad = (ZIP_ALIGNMENT - ((headerOffset + 30 + name.length + 4) % ZIP_ALIGNMENT)) % ZIP_ALIGNMENT;
    if (headerOffset + 30 + name.length + 4 + pad + size > 0xfffffffe) {
      throw new DataFormatError(
        what,
        `the archive would pass 4 GiB, which needs zip64; convkit writes archives up to 4 GiB`,
      );
    }
    const local = new Uint8Array(30 + name.length + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint16(8, 0, true); // stored
    lv.setUint32(14, crc, true);
    lv.setUint32(18, size, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 4 + pad, true);
    local.set(name, 30);
    // The padding extra field: id "FB", its length, then 'Z's (as PyTorch writes it).
    lv.setUint16(30 + name.length, 0x4246, true);
    lv.setUint16(32 + name.length, pad, true);
    local.fill(0x5a, 34 + name.length);
    pad = 0;
    put(local);
    for (const p of parts) put(p);

    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, CENTRAL, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, size, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, headerOffset, true);
    c.set(name, 46);
    central.push(c);
    count++;
  }
  if (count > 0xfffe) throw new DataFormatError(what, `${count} records need zip64; convkit writes up to 65534`);
  const cdOffset = offset;
  let cdSize = 0;
  for (const c of central) {
    put(c);
    cdSize += c.length;
  }
  if (cdOffset + cdSize > 0xfffffffe) {
    throw new DataFormatError(
      what,
      `the archive would pass 4 GiB, which needs zip64; convkit writes archives up to 4 GiB`,
    );
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, EOCD, true);
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, cdOffset, true);
  put(end);
  return offset;
}
