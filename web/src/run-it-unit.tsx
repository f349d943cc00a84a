/**
 * The detail view of one unit of a convolution, ReLU or pooling layer (engine-unit.ts computes
 * it): per input channel the window the unit sees and, for a convolution, the kernel slice and the
 * channel's sum of products; then the arithmetic: products summed + bias = value (conv), max(0, x)
 * (ReLU), the window's max or sum / count (pooling), beside the value the pass gave.
 */
import { useEffect, useMemo, useRef } from 'preact/hooks';
import type { LayerActivation, Values } from './engine.js';
import { chw, explainUnit, type Span, type Unit, type UnitExplanation } from './engine-unit.js';
import { paint, range } from './run-it-maps.js';

/** Input channels drawn as grids (a 3x3 conv over 64 channels has 576 products: the rest are listed by sum). */
const GRIDS_SHOWN = 8;

const num = (v: number): string =>
  Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4);

/** A number with its full value in `data-value` (the browser test reads it). */
function Num({ value, id }: { value: number; id?: string }) {
  return (
    <span class="num" data-testid={id} data-value={value}>
      {num(value)}
    </span>
  );
}

function Grid({ cells, label }: { cells: (number | null)[][]; label: string }) {
  return (
    <table class="grid" aria-label={label}>
      <tbody>
        {cells.map((row, r) => (
          <tr key={r}>
            {row.map((v, c) => (
              <td key={c} class={v === null ? 'pad' : undefined} title={v === null ? 'padding (0)' : String(v)}>
                {v === null ? '0' : num(v)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A channel's map (grey over the whole layer's range) with a box around `box`, which may reach into the padding. */
function Outlined(props: { of: Values; channel: number; box: Span; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const shape = chw(props.of.shape);
  const bounds = useMemo(() => range(props.of.values), [props.of]);
  useEffect(() => {
    if (ref.current) paint(ref.current, props.of.values, shape, props.channel, bounds);
  }, [props.of, props.channel, bounds]);
  const pct = (v: number, n: number): string => `${(100 * v) / n}%`;
  const { top, left, height, width } = props.box;
  return (
    <figure class="outlined">
      <div class="frame">
        <canvas ref={ref} role="img" aria-label={props.label} />
        <div
          class="box"
          style={{
            top: pct(top, shape[1]),
            left: pct(left, shape[2]),
            height: pct(height, shape[1]),
            width: pct(width, shape[2]),
          }}
        />
      </div>
      <figcaption>{props.label}</figcaption>
    </figure>
  );
}

function Arithmetic({ e }: { e: UnitExplanation }) {
  const out = <Num value={e.value} id="unit-value" />;
  if (e.op === 'conv2d')
    return (
      <p data-testid="arithmetic">
        Σ of {e.terms} products = <Num value={e.sum as number} id="unit-sum" />
        {e.bias !== null ? (
          <>
            {' '}
            + bias <Num value={e.bias} id="unit-bias" />
          </>
        ) : (
          ' (no bias)'
        )}{' '}
        = {out}
      </p>
    );
  if (e.op === 'relu')
    return (
      <p data-testid="arithmetic">
        max(0, <Num value={e.channels[0].partial} id="unit-input" />) = {out}
      </p>
    );
  if (e.op === 'maxPool2d')
    return (
      <p data-testid="arithmetic">
        max of the {e.terms} values in the window = {out}
      </p>
    );
  return (
    <p data-testid="arithmetic">
      <Num value={e.sum as number} id="unit-sum" /> (sum of {e.terms} values) / {e.divisor} = {out}
    </p>
  );
}

export function UnitDetail(props: { layer: LayerActivation; unit: Unit; onUnit: (u: Unit) => void }) {
  const { layer, unit } = props;
  const e = explainUnit(layer, unit);
  const [c, h, w] = chw(layer.output.shape);
  if (e === null) return null;
  const field = (name: keyof Unit, max: number, label: string) => (
    <label>
      {label}{' '}
      <input
        type="number"
        min={0}
        max={max - 1}
        value={unit[name]}
        data-testid={`unit-${name}`}
        onChange={(ev) => {
          const v = Math.max(0, Math.min(max - 1, Number((ev.currentTarget as HTMLInputElement).value) || 0));
          props.onUnit({ ...unit, [name]: v });
        }}
      />
    </label>
  );
  const grids = e.channels.slice(0, GRIDS_SHOWN);
  return (
    <section class="unit" data-testid="unit-detail" aria-label="one unit explained">
      <h2>
        {layer.path || 'model'} <span class="op">{layer.op}</span>: channel {unit.channel}, row {unit.y}, column{' '}
        {unit.x}
      </h2>
      <p class="unit-pick">
        {field('channel', c, 'channel')} {field('y', h, 'row')} {field('x', w, 'column')}
      </p>
      <div class="where">
        <Outlined
          of={layer.input as Values}
          channel={e.channels[0].channel}
          box={e.span}
          label={`input channel ${e.channels[0].channel}: the window`}
        />
        <Outlined
          of={layer.output}
          channel={unit.channel}
          box={{ top: unit.y, left: unit.x, height: 1, width: 1 }}
          label={`output channel ${unit.channel}: the unit`}
        />
      </div>
      <div class="windows">
        {grids.map((ch) => (
          <figure key={ch.channel}>
            <figcaption>input channel {ch.channel}</figcaption>
            <Grid cells={ch.window} label={`input window of channel ${ch.channel}`} />
            {ch.kernel ? (
              <>
                <figcaption>kernel</figcaption>
                <Grid cells={ch.kernel} label={`kernel slice of input channel ${ch.channel}`} />
                <figcaption>
                  Σ window × kernel = <Num value={ch.partial} />
                </figcaption>
              </>
            ) : null}
          </figure>
        ))}
      </div>
      {e.channels.length > GRIDS_SHOWN ? (
        <p>
          {e.channels.length - GRIDS_SHOWN} more input channels, their sums of products:{' '}
          {e.channels
            .slice(GRIDS_SHOWN)
            .map((ch) => `${ch.channel}: ${num(ch.partial)}`)
            .join(', ')}
        </p>
      ) : null}
      <Arithmetic e={e} />
      <p>
        The pass computed <Num value={e.output} id="unit-output" /> (float32; the arithmetic above in float64).
      </p>
    </section>
  );
}
