/** The model picker and the input-size and batch fields shared by the model and compare views. */
import { MODELS } from './convkit.js';
import type { Input } from './convkit.js';

/** "3x224x224" -> [3, 224, 224], or why not. Sides up to 4096 (the page recomputes on every change). */
export function parseInput(text: string): Input | string {
  const parts = text.trim().toLowerCase().split('x');
  const dims = parts.map((p) => (/^\d{1,5}$/.test(p) ? Number(p) : Number.NaN));
  if (dims.length !== 3 || dims.some((d) => !(d >= 1 && d <= 4096)))
    return `input: expected channels x height x width such as 3x224x224 (each 1 to 4096), got '${text}'`;
  return [dims[0], dims[1], dims[2]];
}

export function ModelSelect({
  value,
  onChange,
  label,
}: {
  value: string;
  onChange: (v: string) => void;
  label: string;
}) {
  return (
    <label>
      {label}{' '}
      <select value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {MODELS.map((m) => (
          <option key={m.name} value={m.name}>
            {m.name}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The nesting depth of the rows shown (`convkit summary --depth`). */
export function DepthInput({
  label,
  value,
  onChange,
}: {
  label: string;
  value: number;
  onChange: (d: number) => void;
}) {
  return (
    <label>
      {label}{' '}
      <input
        name="depth"
        type="number"
        min={0}
        max={20}
        value={value}
        onChange={(e) => onChange(Number((e.target as HTMLInputElement).value))}
      />
    </label>
  );
}
