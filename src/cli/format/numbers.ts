/** Number and shape formatting shared by the text, markdown and chart outputs. */
import type { ReceptiveField } from '../../analysis/receptive-field.js';
import type { ConvWindow } from '../../analysis/trace-model.js';

/** 11689512 -> "11,689,512" (fixed to en-US grouping whatever the locale). */
export function formatCount(n: number): string {
  const [whole, fraction] = String(Math.abs(n)).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${n < 0 ? '-' : ''}${grouped}${fraction ? `.${fraction}` : ''}`;
}

/** 143667240 -> "143.7M"; 6624904 -> "6.62M"; 272474 -> "0.27M". */
export function formatMillions(n: number): string {
  const m = n / 1e6;
  return `${m >= 10 ? m.toFixed(1) : m.toFixed(2)}M`;
}

/** Billions with 3 decimals, as torchvision prints GMACs: 1813561344 -> "1.814". */
export function formatGiga(n: number): string {
  return (n / 1e9).toFixed(3);
}

/** A large count in the unit torchinfo would pick: ['G', '1.814'], ['M', '40.55'], ['K', '105.50']. */
export function scaled(n: number): [unit: 'G' | 'M' | 'K', value: string] {
  if (n >= 1e8) return ['G', formatGiga(n)];
  if (n >= 1e5) return ['M', (n / 1e6).toFixed(2)];
  return ['K', (n / 1e3).toFixed(2)];
}

/** Bytes in megabytes (10^6, as torchinfo), two decimals. */
export function formatMB(bytes: number): string {
  return (bytes / 1e6).toFixed(2);
}

export function formatShape(shape: readonly number[] | null): string {
  return shape === null ? '--' : `[${shape.join(', ')}]`;
}

const pairText = (p: readonly [number, number]): string => (p[0] === p[1] ? `${p[0]}` : `${p[0]}x${p[1]}`);
const squareText = (p: readonly [number, number]): string => (p[0] === p[1] ? `${p[0]}x${p[0]}` : `${p[0]}x${p[1]}`);

/** "3x3/2 p1" (kernel / stride, padding, dilation, groups when not the defaults); "" without a window. */
export function formatWindow(w: ConvWindow | null): string {
  if (w === null) return '';
  let s = `${squareText(w.kernel)}/${pairText(w.stride)}`;
  if (w.padding[0] !== 0 || w.padding[1] !== 0) s += ` p${pairText(w.padding)}`;
  if (w.dilation[0] !== 1 || w.dilation[1] !== 1) s += ` d${pairText(w.dilation)}`;
  if (w.groups !== 1) s += ` g${w.groups}`;
  return s;
}

/** Receptive field size ("212", "7x5", "435*" when a unit sees the whole input); '--' when the output does not depend on the input. */
export function formatFieldSize(f: ReceptiveField | null): string {
  return f === null ? '--' : `${pairText(f.size)}${f.global ? '*' : ''}`;
}

export function formatFieldJump(f: ReceptiveField | null): string {
  return f === null ? '--' : pairText(f.jump);
}

/** "212x212, effective stride 32, effective padding 90". */
export function describeFieldText(f: ReceptiveField): string {
  return `${squareText(f.size)}, effective stride ${pairText(f.jump)}, effective padding ${pairText(f.padding)}`;
}
