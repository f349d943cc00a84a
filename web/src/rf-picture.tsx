/**
 * The drawings of the receptive-field view: the input picture with the effective field as a
 * heatmap, the unit's theoretical field as a rectangle (solid inside the image, dashed where it
 * reaches into the padding, which is shaded around the image) and the 95%-mass circle; and the
 * chosen layer's output grid, where a click picks the unit.
 */
import type { TargetedMouseEvent } from 'preact';
import { useMemo } from 'preact/hooks';
import { heatmapRgba, type Picture, rgbaUrl } from './rf-image.js';
import type { UnitField } from './rf-stats.js';

/** Pixels of the drawing for the image and its padding band together. */
const STAGE_PX = 480;

/** Where a click fell, in pixels of an SVG's viewBox. */
function viewBoxPoint(e: TargetedMouseEvent<SVGSVGElement>): [number, number] {
  const svg = e.currentTarget;
  const m = svg.getScreenCTM();
  if (!m) return [Number.NaN, Number.NaN];
  const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
  return [p.y, p.x];
}

export function FieldPicture({
  picture,
  gradient,
  field,
  radius95,
  onPick,
}: {
  picture: Picture;
  gradient: Float32Array | null;
  field: UnitField;
  radius95: number | null;
  /** The pixel (y, x) clicked. */
  onPick: (p: [number, number]) => void;
}) {
  const side = picture.side;
  // The band shows a quarter of the side of padding: enough to see where fields reach past the border.
  const band = Math.ceil(side / 4);
  const imageUrl = useMemo(() => rgbaUrl(picture.rgba, side), [picture, side]);
  const heatUrl = useMemo(() => (gradient ? rgbaUrl(heatmapRgba(gradient), side) : null), [gradient, side]);
  // Pixel i spans [i, i + 1] in the drawing; the field's first and last pixel centres are lo and hi.
  const [top, left] = field.lo;
  const [bottom, right] = [field.hi[0] + 1, field.hi[1] + 1];
  const clip = (v: number): number => Math.max(0, Math.min(side, v));
  const [cy, cx] = [field.centre[0] + 0.5, field.centre[1] + 0.5];
  const thin = side / STAGE_PX;
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: the click is a shortcut; the unit's row and column inputs are the keyboard's way
    <svg
      class="rf-stage"
      data-testid="rf-picture"
      width={STAGE_PX}
      height={STAGE_PX}
      viewBox={`${-band} ${-band} ${side + 2 * band} ${side + 2 * band}`}
      role="img"
      aria-label={`input picture ${side}×${side} with the unit's theoretical field (rows ${top} to ${bottom - 1}, columns ${left} to ${right - 1})${gradient ? ' and its effective field as a heatmap' : ''}; click to pick the unit centred nearest`}
      onClick={(e) => onPick(viewBoxPoint(e))}
    >
      <defs>
        <pattern id="rf-padding" width={band / 4} height={band / 4} patternUnits="userSpaceOnUse">
          <rect width={band / 4} height={band / 4} fill="#e2e8f0" />
          <path d={`M0 ${band / 4} L${band / 4} 0`} stroke="#94a3b8" stroke-width={thin} />
        </pattern>
      </defs>
      <rect x={-band} y={-band} width={side + 2 * band} height={side + 2 * band} fill="url(#rf-padding)" />
      <image
        href={imageUrl}
        x={0}
        y={0}
        width={side}
        height={side}
        preserveAspectRatio="none"
        class={heatUrl ? 'pixels under-heat' : 'pixels'}
      />
      {heatUrl ? (
        <image href={heatUrl} x={0} y={0} width={side} height={side} preserveAspectRatio="none" class="pixels" />
      ) : null}
      <rect
        class="rf-theory-full"
        x={left}
        y={top}
        width={right - left}
        height={bottom - top}
        stroke-width={2 * thin}
        stroke-dasharray={`${4 * thin} ${3 * thin}`}
      />
      <rect
        class="rf-theory"
        data-testid="rf-rect"
        x={clip(left)}
        y={clip(top)}
        width={clip(right) - clip(left)}
        height={clip(bottom) - clip(top)}
        stroke-width={2.5 * thin}
      />
      {radius95 !== null ? (
        <circle class="rf-radius" cx={cx} cy={cy} r={radius95 + 0.5} stroke-width={2 * thin} />
      ) : null}
      <path
        class="rf-centre"
        d={`M${cx - 6 * thin} ${cy} h${12 * thin} M${cx} ${cy - 6 * thin} v${12 * thin}`}
        stroke-width={2 * thin}
      />
    </svg>
  );
}

/** Pixels of the output-grid drawing's longer side. */
const GRID_PX = 200;

/** The layer's output grid: one cell per unit, the chosen one filled; a click picks another. */
export function UnitGrid({
  grid,
  unit,
  onPick,
}: {
  grid: readonly [number, number];
  unit: readonly [number, number];
  onPick: (u: [number, number]) => void;
}) {
  const [rows, cols] = grid;
  const cell = GRID_PX / Math.max(rows, cols);
  const lines: string[] = [];
  // Lines between cells only while they stay a few pixels apart.
  if (cell >= 4) {
    for (let r = 1; r < rows; r++) lines.push(`M0 ${r} H${cols}`);
    for (let c = 1; c < cols; c++) lines.push(`M${c} 0 V${rows}`);
  }
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: as FieldPicture's: the row and column inputs beside it take keys
    <svg
      class="rf-grid"
      data-testid="rf-grid"
      width={cols * cell}
      height={rows * cell}
      viewBox={`0 0 ${cols} ${rows}`}
      role="img"
      aria-label={`output grid of ${rows}×${cols} units, unit (${unit[0]}, ${unit[1]}) chosen; click a cell to choose another`}
      onClick={(e) => {
        const [y, x] = viewBoxPoint(e);
        if (y >= 0 && y < rows && x >= 0 && x < cols) onPick([Math.floor(y), Math.floor(x)]);
      }}
    >
      <rect width={cols} height={rows} fill="#f1f5f9" stroke="#64748b" stroke-width={1 / cell} />
      {lines.length > 0 ? <path d={lines.join('')} stroke="#cbd5e1" stroke-width={1 / cell} /> : null}
      <rect x={unit[1]} y={unit[0]} width={1} height={1} fill="#dc2626" />
    </svg>
  );
}
