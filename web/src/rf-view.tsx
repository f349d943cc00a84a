/**
 * The receptive-field view (#/field/<model>?size=96&layer=layer2.0&unit=3,4&channel=all): a layer
 * and one unit of its output; the unit's theoretical field from the analysis (meta backend, as
 * `convkit summary` computes it) drawn on an input picture, and its effective field, the gradient
 * of the unit with respect to the input, computed by convkit's engine on the reference backend
 * in a worker (rf-client.ts) and drawn as a heatmap, with numbers comparing the two.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ReceptiveField } from '../../src/analysis/receptive-field.js';
import type { LayerRow } from '../../src/analysis/summary.js';
import { analyse, getModel, type Input, type ModelEntry } from './convkit.js';
import { ModelSelect } from './inputs.js';
import type { Route } from './main.js';
import { navigate } from './main.js';
import { fieldText, shapeText } from './numbers.js';
import { useEffectiveField } from './rf-client.js';
import type { FieldRequest } from './rf-effective.js';
import { filePicture, networkInput, type Picture, syntheticPicture } from './rf-image.js';
import { FieldNumbersList } from './rf-numbers.js';
import { FieldPicture, UnitGrid } from './rf-picture.js';
import { fieldNumbers, unitAt, unitField } from './rf-stats.js';

/** Input sides offered for a model; ImageNet models start at 96, where ResNet-50 takes about a second. */
function sidesFor(entry: ModelEntry): number[] {
  const own = entry.input[1];
  const offered = [32, 64, 96, 128, 160, 224, own].filter((s) => s <= Math.max(own, 64));
  return [...new Set(offered)].sort((a, b) => a - b);
}
const defaultSide = (entry: ModelEntry): number => (entry.input[1] <= 64 ? entry.input[1] : 96);

/** Rows whose output is a map with a field: the first call of each module (a repeated call, e.g. a reused ReLU, has the field of a row listed). */
const layerRows = (rows: readonly LayerRow[]): LayerRow[] =>
  rows.filter((r) => !r.repeated && r.outputShape?.length === 4 && r.receptiveField !== null);

/** The last stage or block (depth 1 or 2) whose field is at most half the input: large enough to be interesting, small enough to see. */
function defaultRow(rows: readonly LayerRow[], side: number): LayerRow {
  const fits = rows.filter((r) => r.depth <= 2 && (r.receptiveField?.size[0] ?? 0) <= side / 2);
  return fits[fits.length - 1] ?? rows[0];
}

const gridOf = (row: LayerRow): [number, number] => [row.outputShape?.[2] ?? 1, row.outputShape?.[3] ?? 1];

function parseUnit(text: string | null, grid: readonly [number, number]): [number, number] {
  const m = /^(\d+),(\d+)$/.exec(text ?? '');
  const centre: [number, number] = [grid[0] >> 1, grid[1] >> 1];
  if (!m) return centre;
  const [y, x] = [Number(m[1]), Number(m[2])];
  return y < grid[0] && x < grid[1] ? [y, x] : centre;
}

interface Choice {
  entry: ModelEntry;
  side: number;
  rows: LayerRow[];
  row: LayerRow;
  unit: [number, number];
  /** null: the sum over the output's channels. */
  channel: number | null;
}

/** What the route asks for, completed with defaults, or why it cannot be shown. */
function resolve(route: Route): Choice | string {
  try {
    const entry = getModel(route.args[0] ?? 'resnet20_cifar');
    const asked = Number(route.query.get('size'));
    const side = sidesFor(entry).includes(asked) ? asked : defaultSide(entry);
    const input: Input = [entry.input[0], side, side];
    const rows = layerRows(analyse(entry.name, input).summary.rows);
    if (rows.length === 0) return `${entry.name} has no layer with a spatial output at ${shapeText(input)}`;
    const row = rows.find((r) => r.path === route.query.get('layer')) ?? defaultRow(rows, side);
    const unit = parseUnit(route.query.get('unit'), gridOf(row));
    const c = Number(route.query.get('channel') ?? 'all');
    const channel = Number.isInteger(c) && c >= 0 && c < (row.outputShape?.[1] ?? 0) ? c : null;
    return { entry, side, rows, row, unit, channel };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function go(
  model: string,
  q: { size?: number; layer?: string; unit?: readonly number[]; channel?: number | null },
): void {
  const p = new URLSearchParams();
  if (q.size) p.set('size', String(q.size));
  if (q.layer !== undefined) p.set('layer', q.layer);
  if (q.unit) p.set('unit', q.unit.join(','));
  if (q.channel !== undefined && q.channel !== null) p.set('channel', String(q.channel));
  navigate(`#/field/${model}${p.size > 0 ? `?${p.toString()}` : ''}`);
}

interface Shown {
  picture: Picture;
  name: string;
}

/** The picture at the input side: the synthetic scene, or a file the reader chose (null while it decodes), and why a file was refused. */
function usePicture(side: number): [Shown | null, string | null, (f: File | null) => void] {
  const [file, setFile] = useState<File | null>(null);
  const [shown, setShown] = useState<Shown | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    if (file === null) setShown({ picture: syntheticPicture(side), name: 'the built-in scene' });
    else
      filePicture(file, side).then(
        (picture) => {
          if (live) setShown({ picture, name: file.name });
        },
        () => {
          if (!live) return;
          setRefused(`picture: the browser could not decode ${file.name} as an image; showing the built-in scene`);
          setFile(null);
        },
      );
    return () => {
      live = false;
    };
  }, [file, side]);
  const choose = (f: File | null): void => {
    setRefused(null);
    setFile(f);
  };
  return [shown?.picture.side === side ? shown : null, refused, choose];
}

export function FieldView({ route }: { route: Route }) {
  const choice = useMemo(() => resolve(route), [route]);
  const name = route.args[0] ?? 'resnet20_cifar';
  return (
    <section>
      <h1>Receptive field: {name}</h1>
      {typeof choice === 'string' ? (
        <>
          <form class="controls" onSubmit={(e) => e.preventDefault()}>
            <ModelSelect label="model" value={name} onChange={(m) => go(m, {})} />
          </form>
          <p role="alert" class="error">
            {choice}
          </p>
        </>
      ) : (
        <FieldBody choice={choice} />
      )}
    </section>
  );
}

function FieldBody({ choice }: { choice: Choice }) {
  const { entry, side, rows, row, unit, channel } = choice;
  const [shown, refused, setFile] = usePicture(side);
  const picture = shown?.picture ?? null;
  const pictureName = shown?.name ?? '';
  // layerRows keeps only rows with a field.
  const field = row.receptiveField as ReceptiveField;
  const grid = gridOf(row);
  const channels = row.outputShape?.[1] ?? 0;
  const here = { size: side, layer: row.path, unit, channel };
  const request = useMemo<FieldRequest | null>(
    () =>
      picture && {
        model: entry.name,
        input: [entry.input[0], side, side],
        image: networkInput(picture, entry.input[0]),
        call: row.index,
        unit,
        channel,
      },
    [picture, entry, side, row, unit, channel],
  );
  const key = `${entry.name}|${side}|${row.index}|${unit.join(',')}|${channel}|${pictureName}`;
  const state = useEffectiveField(request, key);
  const uf = unitField(field, unit);
  const gradient = state?.status === 'done' ? state.result.gradient : null;
  const numbers = useMemo(() => (gradient ? fieldNumbers(gradient, [side, side], uf) : null), [gradient]);
  useEffect(() => {
    if (gradient)
      exposeForTests({
        model: entry.name,
        side,
        path: row.path,
        call: row.index,
        unit,
        channel,
        picture: pictureName,
        gradient,
      });
  }, [gradient]);
  return (
    <>
      <form class="controls" onSubmit={(e) => e.preventDefault()}>
        <ModelSelect label="model" value={entry.name} onChange={(m) => go(m, {})} />
        <label>
          input side{' '}
          <select
            name="size"
            value={side}
            onChange={(e) => go(entry.name, { size: Number((e.target as HTMLSelectElement).value) })}
          >
            {sidesFor(entry).map((s) => (
              <option key={s} value={s}>
                {entry.input[0]}×{s}×{s}
              </option>
            ))}
          </select>
        </label>
        <label>
          gradient of{' '}
          <select
            name="channel"
            value={channel ?? 'all'}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              go(entry.name, { ...here, channel: v === 'all' ? null : Number(v) });
            }}
          >
            <option value="all">the sum over all {channels} channels</option>
            {Array.from({ length: channels }, (_, c) => (
              <option key={c} value={c}>
                channel {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          picture{' '}
          <input
            type="file"
            name="picture"
            accept="image/*"
            onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)}
          />
        </label>
        <button type="button" onClick={() => setFile(null)}>
          built-in scene
        </button>
      </form>
      {refused ? (
        <p role="alert" class="error">
          {refused}
        </p>
      ) : null}
      <div class="rf-panes">
        <div class="rf-layers">
          <label for="rf-layer">layer (output, RF size / jump)</label>
          <select
            id="rf-layer"
            name="layer"
            size={16}
            value={row.path}
            onChange={(e) => go(entry.name, { size: side, layer: (e.target as HTMLSelectElement).value })}
          >
            {rows.map((r) => (
              <option key={r.index} value={r.path}>
                {`${r.path} · ${r.type} · ${shapeText((r.outputShape ?? []).slice(1))} · ${fieldText(r.receptiveField)}`}
              </option>
            ))}
          </select>
          <p class="hint">unit on {row.path}'s output grid (click a cell)</p>
          <UnitGrid grid={grid} unit={unit} onPick={(u) => go(entry.name, { ...here, unit: u })} />
          <div class="controls">
            {(['row', 'column'] as const).map((axis, a) => (
              <label key={axis}>
                {axis}{' '}
                <input
                  type="number"
                  name={`unit-${axis}`}
                  min={0}
                  max={grid[a] - 1}
                  value={unit[a]}
                  onChange={(e) => {
                    const v = Math.max(0, Math.min(grid[a] - 1, Number((e.target as HTMLInputElement).value) || 0));
                    go(entry.name, { ...here, unit: a === 0 ? [v, unit[1]] : [unit[0], v] });
                  }}
                />
              </label>
            ))}
          </div>
        </div>
        <figure
          class="rf-figure"
          data-testid="rf-figure"
          data-state={state?.status ?? 'waiting'}
          data-call={row.index}
          data-unit={unit.join(',')}
          data-picture={pictureName}
        >
          {picture ? (
            <FieldPicture
              picture={picture}
              gradient={gradient}
              field={uf}
              radius95={numbers?.radius95 ?? null}
              onPick={(p) => go(entry.name, { ...here, unit: unitAt(field, p, grid) })}
            />
          ) : null}
          <figcaption>
            {pictureName} at {side}×{side}; the theoretical field of unit ({unit[0]}, {unit[1]}) of {row.path} (green,
            dashed where it reaches into the padding) and |d unit / d input| (heat, summed over the input's channels).
          </figcaption>
        </figure>
        <FieldNumbersList
          row={row}
          uf={uf}
          side={side}
          state={state}
          numbers={numbers}
          channel={channel}
          channels={channels}
        />
      </div>
    </>
  );
}

/** What the page shows last, for the browser test (test/e2e/receptive-field-view.test.ts) to read. */
export interface ShownField {
  model: string;
  side: number;
  path: string;
  call: number;
  unit: readonly [number, number];
  channel: number | null;
  picture: string;
  gradient: Float32Array;
}

function exposeForTests(shown: ShownField): void {
  (window as unknown as { convkitField?: ShownField }).convkitField = shown;
}
