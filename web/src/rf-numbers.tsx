/** The numbers beside the receptive-field picture: the analysis's field, the unit's pixels, and the effective field's measures. */
import type { LayerRow } from '../../src/analysis/summary.js';
import { formatFieldJump, formatFieldSize, shapeText } from './numbers.js';
import type { FieldState } from './rf-client.js';
import { FIELD_SEED } from './rf-effective.js';
import { clippedField, type FieldNumbers, MASS, type UnitField } from './rf-stats.js';

const percent = (share: number): string => `${(100 * share).toFixed(1)} %`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
/** Field coordinates are whole or half pixels. */
const coord = (v: number): string => String(Math.round(v * 2) / 2);

function Effective({
  state,
  numbers,
  pixels,
}: {
  state: FieldState | null;
  numbers: FieldNumbers | null;
  pixels: number;
}) {
  if (state === null || state.status === 'computing')
    return (
      <p role="status" class="rf-status" data-testid="rf-status">
        computing…{' '}
        {state && state.stage !== 'waiting'
          ? `${state.stage}${state.stage === 'forward' ? ` (module call ${state.done} of ${state.total})` : ''}`
          : ''}
      </p>
    );
  if (state.status === 'error')
    return (
      <p role="alert" class="error">
        {state.message}
      </p>
    );
  const { buildMs, computeMs } = state.result;
  return (
    <dl class="results" data-testid="rf-effective">
      <dt>{MASS * 100}%-mass radius</dt>
      <dd data-field="radius95">{numbers ? `${numbers.radius95.toFixed(1)} px` : ''}</dd>
      <dt>{MASS * 100}% of the gradient in</dt>
      <dd data-field="share95">
        {numbers ? `${percent(numbers.share95)} of the theoretical field's ${pixels} pixels in the image` : ''}
      </dd>
      <dt>non-zero gradient on</dt>
      <dd data-field="nonzero">{numbers ? `${percent(numbers.nonZeroShare)} of them` : ''}</dd>
      <dt>gradient outside the field</dt>
      <dd data-field="outside">{numbers ? String(numbers.outside) : ''}</dd>
      <dt>time</dt>
      <dd data-field="time">
        {seconds(computeMs)} forward to the layer and back, in a worker
        {buildMs > 0 ? ` (building the model: ${seconds(buildMs)})` : ''}
      </dd>
    </dl>
  );
}

export function FieldNumbersList({
  row,
  uf,
  side,
  state,
  numbers,
  channel,
  channels,
}: {
  row: LayerRow;
  uf: UnitField;
  side: number;
  state: FieldState | null;
  numbers: FieldNumbers | null;
  channel: number | null;
  channels: number;
}) {
  const f = row.receptiveField;
  if (f === null) return null;
  const [[y0, y1], [x0, x1]] = clippedField(uf, [side, side]);
  const past = Math.max(0, -uf.lo[0], -uf.lo[1], uf.hi[0] - (side - 1), uf.hi[1] - (side - 1));
  return (
    <div class="rf-numbers" data-testid="rf-numbers">
      <h2>Theoretical field (analysis)</h2>
      <dl class="results" data-testid="rf-theory" data-size={f.size.join(',')} data-jump={f.jump.join(',')}>
        <dt>layer</dt>
        <dd>
          {row.path} ({row.type}), output {shapeText((row.outputShape ?? []).slice(1))}
        </dd>
        <dt>size</dt>
        <dd data-field="size">{formatFieldSize(f)}</dd>
        <dt>jump</dt>
        <dd data-field="jump">{formatFieldJump(f)}</dd>
        <dt>unit 0 centred at</dt>
        <dd data-field="start">
          ({coord(f.start[0])}, {coord(f.start[1])}), effective padding {coord(f.padding[0])}
          {f.padding[0] !== f.padding[1] ? `x${coord(f.padding[1])}` : ''}
        </dd>
        <dt>this unit sees</dt>
        <dd data-field="unit-field" data-rows={`${y0},${y1}`} data-cols={`${x0},${x1}`}>
          rows {y0}-{y1}, columns {x0}-{x1}
          {past > 0 ? `, and ${coord(past)} px of padding past the border` : ''}
        </dd>
      </dl>
      <h2>Effective field</h2>
      <p class="hint" data-field="of">
        |d unit / d input| of {channel === null ? `the sum over the ${channels} channels` : `channel ${channel}`} of the
        unit centred on pixel ({uf.centre.map(coord).join(', ')}), summed over the input's channels; fresh weights (seed{' '}
        {FIELD_SEED}), eval mode, the reference backend.
      </p>
      <Effective state={state} numbers={numbers} pixels={(y1 - y0 + 1) * (x1 - x0 + 1)} />
    </div>
  );
}
