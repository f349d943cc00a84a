/**
 * The activation maps of a traced pass: per op with a [C, H, W] output, a grid of small canvases
 * (one per channel, grey from the layer's minimum to its maximum), grouped by block (the first two
 * parts of the module path) in folds; deep nets start with only the first block open. A click on
 * a map picks that unit for the detail view.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { LayerActivation } from './engine.js';
import { chw, type Unit } from './engine-unit.js';

/** Channels drawn per layer (a ResNet-50 stage has 2048; the rest are named, not drawn). */
export const MAX_MAPS = 64;
/** Up to this many layers every block starts open. */
const OPEN_ALL_UP_TO = 24;

/** v in [lo, hi] -> a grey level 0..255 (0 everywhere when the layer is constant). */
export const grey = (v: number, lo: number, hi: number): number =>
  hi > lo ? Math.round((255 * (v - lo)) / (hi - lo)) : 0;

export function range(values: Float32Array): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Draws channel `c` of a CHW array (or its 3 channels as RGB when `rgb`) at one canvas pixel per value. */
export function paint(
  canvas: HTMLCanvasElement,
  values: Float32Array,
  shape: readonly [number, number, number],
  c: number,
  [lo, hi]: [number, number],
  rgb = false,
): void {
  const [, h, w] = shape;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const image = ctx.createImageData(w, h);
  const plane = h * w;
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) image.data[4 * i + k] = grey(values[(rgb ? k : c) * plane + i], lo, hi);
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

/** One map canvas; clicking it picks the unit under the pointer. */
function MapCanvas(props: {
  layer: LayerActivation;
  channel: number;
  bounds: [number, number];
  size: number;
  onPick?: (unit: Unit) => void;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const shape = chw(props.layer.output.shape);
  useEffect(() => {
    if (ref.current) paint(ref.current, props.layer.output.values, shape, props.channel, props.bounds);
  }, [props.layer, props.channel, props.bounds]);
  const pick = (e: MouseEvent): void => {
    const el = e.currentTarget as HTMLCanvasElement;
    const r = el.getBoundingClientRect();
    const y = Math.min(shape[1] - 1, Math.floor(((e.clientY - r.top) / r.height) * shape[1]));
    const x = Math.min(shape[2] - 1, Math.floor(((e.clientX - r.left) / r.width) * shape[2]));
    props.onPick?.({ channel: props.channel, y, x });
  };
  return (
    <canvas
      ref={ref}
      class="map"
      role="img"
      aria-label={`${props.layer.path || 'model'} ${props.layer.op}, channel ${props.channel}`}
      data-layer={props.layer.index}
      data-channel={props.channel}
      style={{ width: `${props.size}px`, height: `${(props.size * shape[1]) / shape[2]}px` }}
      data-pickable={props.onPick ? '' : undefined}
      onClick={props.onPick ? pick : undefined}
    />
  );
}

function Layer({ layer, onPick }: { layer: LayerActivation; onPick?: (layer: LayerActivation, unit: Unit) => void }) {
  const shape = chw(layer.output.shape);
  const bounds = useMemo(() => range(layer.output.values), [layer]);
  const shown = Math.min(shape[0], MAX_MAPS);
  const size = Math.max(24, Math.min(72, 4 * shape[2]));
  return (
    <div class="layer-maps" data-testid="layer-maps" data-layer={layer.index} data-path={layer.path}>
      <h4>
        {layer.path || 'model'} <span class="op">{layer.op}</span> {shape.join('×')}{' '}
        <span class="range" data-lo={bounds[0]} data-hi={bounds[1]}>
          range {bounds[0].toPrecision(3)} … {bounds[1].toPrecision(3)}
        </span>
        {shown < shape[0] ? ` (first ${shown} of ${shape[0]} channels)` : ''}
      </h4>
      <div class="maps">
        {Array.from({ length: shown }, (_, c) => (
          <MapCanvas
            key={c}
            layer={layer}
            channel={c}
            bounds={bounds}
            size={size}
            onPick={onPick ? (u) => onPick(layer, u) : undefined}
          />
        ))}
      </div>
    </div>
  );
}

/** A fold with more layers than this is split by the second part of the path (ResNet's stages into blocks). */
const SPLIT_OVER = 12;

const prefix = (path: string, parts: number): string => path.split('.').slice(0, parts).join('.') || 'model';

/** Consecutive layers grouped by the first part of their module path, a large group by the first two. */
export function blocksOf(layers: readonly LayerActivation[]): [string, LayerActivation[]][] {
  const group = (ls: readonly LayerActivation[], parts: number): [string, LayerActivation[]][] => {
    const out: [string, LayerActivation[]][] = [];
    for (const l of ls) {
      const name = prefix(l.path, parts);
      const last = out.at(-1);
      if (last && last[0] === name) last[1].push(l);
      else out.push([name, [l]]);
    }
    return out;
  };
  return group(layers, 1).flatMap(([name, ls]) => (ls.length > SPLIT_OVER ? group(ls, 2) : [[name, ls]]));
}

type MapsProps = {
  layers: LayerActivation[];
  onPick: (layer: LayerActivation, unit: Unit) => void;
  explainable: (layer: LayerActivation) => boolean;
};

/** A fold of one block's layers; its maps are drawn only while it is open (ResNet-20 has thousands). */
function Block(props: MapsProps & { name: string; open: boolean }) {
  const [open, setOpen] = useState(props.open);
  return (
    <details
      open={open}
      data-block={props.name}
      onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary>
        {props.name}: {props.layers.map((l) => l.op).join(', ')}
      </summary>
      {open
        ? props.layers.map((l) => (
            <Layer key={l.index} layer={l} onPick={props.explainable(l) ? props.onPick : undefined} />
          ))
        : null}
    </details>
  );
}

export function ActivationMaps(props: MapsProps) {
  const maps = props.layers.filter((l) => l.output.shape.length === 3);
  const blocks = blocksOf(maps);
  const openAll = maps.length <= OPEN_ALL_UP_TO;
  return (
    <div data-testid="activations">
      {blocks.map(([name, layers], i) => (
        <Block
          key={`${i}-${name}`}
          name={name}
          open={openAll || i === 0}
          onPick={props.onPick}
          explainable={props.explainable}
          layers={layers}
        />
      ))}
    </div>
  );
}
