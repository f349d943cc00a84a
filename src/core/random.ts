/**
 * Seeded random numbers (xoshiro128**), so initialisation, dropout and data shuffling repeat
 * exactly for a given seed. The bits differ from PyTorch's generator: tests that compare with
 * PyTorch load PyTorch's values instead of drawing them.
 */
import { ArgumentError } from './errors.js';

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
