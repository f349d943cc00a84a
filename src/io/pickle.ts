/**
 * A restricted Python unpickler: the opcodes of protocols 2 to 5 that a PyTorch state dict (and
 * the dict a training script saves around one) is made of, and no others. It never runs code:
 * GLOBAL and STACK_GLOBAL only ask `findGlobal`, which answers from a fixed table of allowed names
 * or throws; REDUCE, BUILD and persistent ids are handed to the caller, which builds plain values.
 *
 * Python values become: None -> null, bool -> boolean, int -> number (bigint past 2^53), float ->
 * number, str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array, dict -> Map.
 * Every length is checked against the bytes left, so the values made are bounded by the pickle's
 * size (each opcode makes at most one value; repeated BINGETs share, not copy).
 */
import { DataFormatError } from '../core/errors.js';

export interface UnpickleHooks {
  /** The value a GLOBAL names; throws (a refusal naming it) for anything not allowed. */
  findGlobal(module: string, name: string, at: number): unknown;
  /** What `callable(*args)` gives, for an allowed callable; throws otherwise. */
  reduce(callable: unknown, args: readonly unknown[], at: number): unknown;
  /** The value of a persistent id (PyTorch: a storage). */
  persistentLoad(pid: unknown, at: number): unknown;
  /** BUILD: sets `state` on `obj` (returns nothing); throws when not allowed. */
  build(obj: unknown, state: unknown, at: number): void;
}

const MARK = Symbol('mark');

/** Opcode names, for errors about opcodes a state dict does not use. */
const NAMES: Readonly<Record<number, string>> = {
  129: 'NEWOBJ',
  146: 'NEWOBJ_EX',
  105: 'INST',
  111: 'OBJ',
  73: 'INT',
  76: 'LONG',
  70: 'FLOAT',
  83: 'STRING',
  84: 'BINSTRING',
  85: 'SHORT_BINSTRING',
  86: 'UNICODE',
  80: 'PERSID',
  112: 'PUT',
  103: 'GET',
  143: 'EMPTY_SET',
  144: 'ADDITEMS',
  145: 'FROZENSET',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
  100: 'DICT',
  108: 'LIST',
};

/** A frozen array stands for a tuple. */
export function isTuple(v: unknown): v is readonly unknown[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

/**
 * Unpickles `bytes` (the record `record` of `file`, for errors) with `hooks`. Errors are
 * DataFormatErrors naming the file, the record and the byte.
 */
export function unpickle(bytes: Uint8Array, file: string, record: string, hooks: UnpickleHooks): unknown {
  return unpickleAt(bytes, 0, file, record, hooks).value;
}

/**
 * Unpickles the pickle that starts at byte `start` of `bytes` (a file holding several pickles in a
 * row, as legacy PyTorch checkpoints do) and says where it ended (the byte after STOP). Errors name
 * the byte of `record`, or of the file when `record` is ''.
 */
export function unpickleAt(
  bytes: Uint8Array,
  start: number,
  file: string,
  record: string,
  hooks: UnpickleHooks,
): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const where = record === '' ? '' : ` of ${record}`;
  const fail = (at: number, detail: string): DataFormatError =>
    new DataFormatError(file, `at byte ${at}${where}: ${detail}`);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pos = start;
  let op = 0;
  let at = 0;

  const need = (n: number): void => {
    if (pos + n > bytes.length)
      throw fail(at, `opcode 0x${hex2(op)} needs ${n} more bytes, the pickle ends first (truncated)`);
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw fail(at, `opcode 0x${hex2(op)} pops an empty stack (corrupt pickle)`);
    const v = stack.pop();
    if (v === MARK) throw fail(at, `opcode 0x${hex2(op)} pops a MARK (corrupt pickle)`);
    return v;
  };
  const top = (): unknown => {
    const v = stack[stack.length - 1];
    if (stack.length === 0 || v === MARK)
      throw fail(at, `opcode 0x${hex2(op)} needs a value on the stack (corrupt pickle)`);
    return v;
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw fail(at, `opcode 0x${hex2(op)} finds no MARK (corrupt pickle)`);
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const text = (n: number): string => {
    need(n);
    try {
      const s = decoder.decode(bytes.subarray(pos, pos + n));
      pos += n;
      return s;
    } catch {
      throw fail(at, 'a string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 1000) throw fail(at, 'a GLOBAL name has no end of line (truncated or corrupt)');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const length = (n: 4 | 8): number => {
    need(n);
    const v = n === 4 ? view.getUint32(pos, true) : view.getBigUint64(pos, true);
    pos += n;
    if (BigInt(v) > BigInt(bytes.length - pos))
      throw fail(at, `a length of ${v} runs past the end of the ${bytes.length}-byte pickle`);
    return Number(v);
  };
  const long = (n: number): number | bigint => {
    if (n > 64) throw fail(at, `an integer of ${n} bytes is absurd for a state dict`);
    need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]);
    if (n > 0 && bytes[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    pos += n;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) throw fail(at, `SETITEM(S) on ${kind(target)}, not a dict`);
    if (items.length % 2 !== 0) throw fail(at, 'SETITEMS with an odd number of values');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (k !== null && typeof k === 'object')
        throw fail(at, `a dict key is ${kind(k)}; a state dict's keys are strings or numbers`);
      target.set(k, items[i + 1]);
    }
  };
  const append = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) throw fail(at, `APPEND(S) on ${kind(target)}, not a list`);
    for (const v of items) target.push(v);
  };
  const put = (i: number): void => {
    if (memo.size > bytes.length) throw fail(at, 'more memo entries than the pickle has bytes (corrupt)');
    memo.set(i, top());
  };
  const get = (i: number): void => {
    if (!memo.has(i)) throw fail(at, `memo entry ${i} was never stored (corrupt pickle)`);
    stack.push(memo.get(i));
  };

  while (pos < bytes.length) {
    at = pos;
    op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        if (bytes[pos] < 2 || bytes[pos] > 5) throw fail(at, `pickle protocol ${bytes[pos]}; convkit reads 2 to 5`);
        pos += 1;
        break;
      case 0x95: // FRAME
        need(8);
        pos += 8;
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x58: // BINUNICODE
        stack.push(text(length(4)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        need(1);
        stack.push(text(bytes[pos++]));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(length(8)));
        break;
      case 0x43: // SHORT_BINBYTES
        need(1);
        {
          const n = bytes[pos++];
          need(n);
          stack.push(bytes.slice(pos, pos + n));
          pos += n;
        }
        break;
      case 0x42: // BINBYTES
      case 0x8e: {
        // BINBYTES8
        const n = length(op === 0x42 ? 4 : 8);
        stack.push(bytes.slice(pos, pos + n));
        pos += n;
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(bytes[pos++]);
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x8a: // LONG1
        need(1);
        stack.push(long(bytes[pos++]));
        break;
      case 0x8b: // LONG4
        need(4);
        {
          const n = view.getUint32(pos, true);
          pos += 4;
          stack.push(long(n));
        }
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        const items: unknown[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(Object.freeze(items));
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(hooks.findGlobal(module, name, at));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail(at, 'STACK_GLOBAL needs two strings');
        stack.push(hooks.findGlobal(module, name, at));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!isTuple(args)) throw fail(at, `REDUCE's arguments are ${kind(args)}, not a tuple`);
        stack.push(hooks.reduce(callable, args, at));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        hooks.build(top(), state, at);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop(), at));
        break;
      case 0x71: // BINPUT
        need(1);
        put(bytes[pos++]);
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        put(view.getUint32(pos, true));
        pos += 4;
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        need(1);
        get(bytes[pos++]);
        break;
      case 0x6a: // LONG_BINGET
        need(4);
        get(view.getUint32(pos, true));
        pos += 4;
        break;
      case 0x30: // POP
        if (stack.length === 0) throw fail(at, 'POP on an empty stack');
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x2e: {
        // STOP
        const result = pop();
        if (stack.length !== 0) throw fail(at, `STOP leaves ${stack.length} values on the stack (corrupt pickle)`);
        return { value: result, end: pos };
      }
      default:
        throw fail(
          at,
          `opcode 0x${hex2(op)}${NAMES[op] ? ` (${NAMES[op]})` : ''} is not one a PyTorch state dict uses; ` +
            'convkit reads only those, so it refuses the file without interpreting it further',
        );
    }
  }
  throw fail(bytes.length, 'the pickle ends without STOP (truncated)');
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** A few words on a value's kind, for errors. */
export function kind(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return `a dict of ${v.size} entries`;
  if (isTuple(v)) return `a tuple of ${v.length}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `bytes (${v.length})`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}...` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${v}`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  const name = (v as { describe?: () => string } | undefined)?.describe?.();
  return name ?? typeof v;
}
