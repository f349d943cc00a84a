/** Python-style formatting of layer settings, so toString() reads like PyTorch's repr. */
import type { IntOrPair } from '../core/shape.js';

/** A float as Python's repr writes it: 1e-05, 0.1, 1.0, 1e+16. */
export function pyFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = v.toExponential().split('e');
  const exponent = Number(exponentText);
  // Python switches to scientific notation below 1e-4 and from 1e16 on.
  if (exponent < -4 || exponent >= 16)
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  // In this range JavaScript also writes plain digits (it switches below 1e-6 and from 1e21).
  const text = String(v);
  return text.includes('.') ? text : `${text}.0`;
}

export function pyBool(v: boolean): string {
  return v ? 'True' : 'False';
}

/** An int or a tuple of ints, as given: 3 or (3, 3). */
export function pyInts(v: IntOrPair | readonly number[]): string {
  return typeof v === 'number' ? String(v) : `(${v.join(', ')})`;
}
