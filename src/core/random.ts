/**
 * Seeded random numbers (xoshiro128**), so initialisation, dropout and data shuffling repeat
 * exactly for a given seed. The bits differ from PyTorch's generator: tests that compare with
 * PyTorch load PyTorch's values instead of drawing them. `fillUniform` and `fillNormal` draw a
 * whole array at once (how initialisation fills a layer): the same values, in the same order, as
 * calling uniform() or normal() once per element, several times faster.
 */
import type { FloatArray } from './dtype.js';
import { ArgumentError } from './errors.js';

/** Bounds for fillNormal: values outside [lo, hi] are drawn again, at most `maxTries` draws per value. */
export interface NormalBounds {
  lo: number;
  hi: number;
  maxTries: number;
}

/** Uniforms fillNormal draws at a time (512 KiB of float64: the chunk stays in cache). */
const NORMAL_CHUNK = 65536;

export class Generator {
  private s = new Uint32Array(4);
  // The second normal of the last pair; a flag rather than null keeps the field an unboxed double.
  private spare = 0;
  private hasSpare = false;

  constructor(seed = 0) {
    this.seed(seed);
  }

  seed(seed: number): void {
    this.hasSpare = false;
    // splitmix32 spreads one seed over the four words of state.
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** A uniformly random 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * Standard normal by Marsaglia's polar method: each accepted pair of uniforms gives two
   * normals (the second is kept for the next call), with one log and no trigonometry.
   */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = 0;
    let v = 0;
    let r = 0;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      r = u * u + v * v;
    } while (r >= 1 || r === 0);
    const scale = Math.sqrt((-2 * Math.log(r)) / r);
    this.spare = v * scale;
    this.hasSpare = true;
    return u * scale;
  }

  /** Fills `out` with a + (b - a) * uniform(), element by element. */
  fillUniform(out: FloatArray, a = 0, b = 1): void {
    const s = this.s;
    // The state in locals (int32 arithmetic, the same bits as nextUint32) keeps the loop in registers.
    let s0 = s[0] | 0;
    let s1 = s[1] | 0;
    let s2 = s[2] | 0;
    let s3 = s[3] | 0;
    for (let i = 0; i < out.length; i++) {
      const x = Math.imul(s1, 5);
      const bits = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = a + (b - a) * (bits / 4294967296);
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
  }

  /**
   * Fills `out` with mean + std * normal(), element by element (the kept normal first, and the
   * second of the last pair kept for the next call). With `bounds`, a value outside [lo, hi] is
   * drawn again (truncated normal by rejection). Returns how many values it wrote: fewer than
   * out.length only when one value took `maxTries` draws without landing in the bounds.
   */
  fillNormal(out: FloatArray, mean = 0, std = 1, bounds?: NormalBounds): number {
    if (bounds !== undefined) return this.fillBoundedNormal(out, mean, std, bounds);
    const n = out.length;
    let i = 0;
    if (this.hasSpare && n > 0) {
      this.hasSpare = false;
      out[i++] = mean + std * this.spare;
    }
    // normal()'s polar method on uniforms drawn by fillUniform a chunk at a time. A chunk never
    // holds more pairs than the values still to fill (an accepted pair gives two), so the state
    // ends exactly where normal() would leave it.
    const uniforms = new Float64Array(Math.min(NORMAL_CHUNK, 2 * Math.ceil((n - i) / 2)));
    while (i < n) {
      const chunk = uniforms.subarray(0, Math.min(uniforms.length, 2 * Math.ceil((n - i) / 2)));
      this.fillUniform(chunk);
      for (let k = 0; k < chunk.length; k += 2) {
        const u = 2 * chunk[k] - 1;
        const v = 2 * chunk[k + 1] - 1;
        const r = u * u + v * v;
        if (r >= 1 || r === 0) continue;
        const scale = Math.sqrt((-2 * Math.log(r)) / r);
        out[i++] = mean + std * (u * scale);
        // As normal(): the second of the pair is kept (hasSpare only when this call does not use it).
        this.spare = v * scale;
        if (i < n) out[i++] = mean + std * this.spare;
        else this.hasSpare = true;
      }
    }
    return n;
  }

  /** fillNormal with bounds, a normal() at a time (only GoogLeNet's truncated init uses it). */
  private fillBoundedNormal(out: FloatArray, mean: number, std: number, bounds: NormalBounds): number {
    for (let i = 0; i < out.length; i++) {
      let tries = 0;
      let value = mean + std * this.normal();
      while (!(value >= bounds.lo && value <= bounds.hi)) {
        if (++tries >= bounds.maxTries) return i;
        value = mean + std * this.normal();
      }
      out[i] = value;
    }
    return out.length;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** The whole state as plain JSON (checkpoints save it; setState continues the same sequence). */
  getState(): GeneratorState {
    return { s: Array.from(this.s), spare: this.spare, hasSpare: this.hasSpare };
  }

  /** Restores a state from getState(); throws ArgumentError on anything else. */
  setState(state: GeneratorState): void {
    const words = state?.s;
    const ok =
      Array.isArray(words) &&
      words.length === 4 &&
      words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) &&
      typeof state.spare === 'number' &&
      Number.isFinite(state.spare) &&
      typeof state.hasSpare === 'boolean';
    if (!ok) throw new ArgumentError('Generator', `not a generator state: ${JSON.stringify(state)?.slice(0, 100)}`);
    this.s.set(words);
    this.spare = state.spare;
    this.hasSpare = state.hasSpare;
  }
}

/** A generator's state: the four xoshiro128** words and the kept normal. */
export interface GeneratorState {
  s: number[];
  spare: number;
  hasSpare: boolean;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator used when none is passed, like torch's default generator. */
export const defaultGenerator = new Generator(0);

/** Reseeds the default generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultGenerator.seed(seed);
}
