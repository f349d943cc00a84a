/**
 * The input picture of the receptive-field view: a synthetic scene drawn on a canvas, or a local
 * image file the browser decodes (nothing is uploaded), as RGBA at the input size and as the
 * network's input values.
 */

/** A square RGBA picture of side x side pixels. */
export interface Picture {
  side: number;
  rgba: Uint8ClampedArray;
}

function canvas2d(side: number): CanvasRenderingContext2D {
  const c = document.createElement('canvas');
  c.width = side;
  c.height = side;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas');
  return ctx;
}

const pictureOf = (ctx: CanvasRenderingContext2D, side: number): Picture => ({
  side,
  rgba: ctx.getImageData(0, 0, side, side).data,
});

/** A small scene with edges, a texture and smooth areas, drawn in unit coordinates so every size looks alike. */
export function syntheticPicture(side: number): Picture {
  const ctx = canvas2d(side);
  ctx.scale(side, side);
  const sky = ctx.createLinearGradient(0, 0, 0, 0.6);
  sky.addColorStop(0, '#1e3a8a');
  sky.addColorStop(1, '#93c5fd');
  ctx.fillStyle = sky;
  ctx.fillRect(0, 0, 1, 0.62);
  ctx.fillStyle = '#4d7c0f';
  ctx.fillRect(0, 0.62, 1, 0.38);
  ctx.fillStyle = '#facc15';
  ctx.beginPath();
  ctx.arc(0.78, 0.2, 0.1, 0, 2 * Math.PI);
  ctx.fill();
  // A house: wall, roof, door and a chequered window.
  ctx.fillStyle = '#f5f5f4';
  ctx.fillRect(0.18, 0.42, 0.34, 0.3);
  ctx.fillStyle = '#b91c1c';
  ctx.beginPath();
  ctx.moveTo(0.14, 0.43);
  ctx.lineTo(0.35, 0.24);
  ctx.lineTo(0.56, 0.43);
  ctx.fill();
  ctx.fillStyle = '#78350f';
  ctx.fillRect(0.24, 0.55, 0.08, 0.17);
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) {
      ctx.fillStyle = (i + j) % 2 === 0 ? '#0f172a' : '#e0f2fe';
      ctx.fillRect(0.38 + i * 0.025, 0.5 + j * 0.025, 0.025, 0.025);
    }
  // Stripes of a field in front.
  ctx.strokeStyle = '#a3e635';
  ctx.lineWidth = 0.012;
  for (let k = 0; k < 8; k++) {
    ctx.beginPath();
    ctx.moveTo(0.5 + k * 0.08, 0.62);
    ctx.lineTo(-0.2 + k * 0.18, 1);
    ctx.stroke();
  }
  return pictureOf(ctx, side);
}

/** An image file decoded by the browser, its centre square scaled to side x side. */
export async function filePicture(file: Blob, side: number): Promise<Picture> {
  const bitmap = await createImageBitmap(file);
  const crop = Math.min(bitmap.width, bitmap.height);
  const ctx = canvas2d(side);
  ctx.drawImage(bitmap, (bitmap.width - crop) / 2, (bitmap.height - crop) / 2, crop, crop, 0, 0, side, side);
  bitmap.close();
  return pictureOf(ctx, side);
}

/** The network's input, [channels, side, side]: RGB (or grey for one channel) scaled to [-1, 1]. */
export function networkInput(p: Picture, channels: number): Float32Array {
  const n = p.side * p.side;
  const out = new Float32Array(channels * n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [p.rgba[4 * i], p.rgba[4 * i + 1], p.rgba[4 * i + 2]];
    for (let c = 0; c < channels; c++) {
      const v = channels === 3 ? [r, g, b][c] : 0.299 * r + 0.587 * g + 0.114 * b;
      out[c * n + i] = v / 127.5 - 1;
    }
  }
  return out;
}

/** A data URL of RGBA pixels (for an SVG <image>). */
export function rgbaUrl(rgba: Uint8ClampedArray, side: number): string {
  const ctx = canvas2d(side);
  ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba), side, side), 0, 0);
  return ctx.canvas.toDataURL();
}

/** Colours of the heatmap from weak to strong (magma-like: purple, red, yellow), unlike any of the scene's. */
const HEAT: readonly (readonly [number, number, number])[] = [
  [81, 18, 124],
  [183, 55, 121],
  [252, 137, 97],
  [252, 253, 191],
];

/** The gradient map as RGBA: colour and opacity grow with sqrt(g / max); transparent where g is 0. */
export function heatmapRgba(gradient: Float32Array): Uint8ClampedArray {
  let max = 0;
  for (const g of gradient) max = Math.max(max, g);
  const out = new Uint8ClampedArray(gradient.length * 4);
  for (let i = 0; i < gradient.length; i++) {
    if (!(gradient[i] > 0)) continue;
    const t = Math.sqrt(gradient[i] / max);
    const at = t * (HEAT.length - 1);
    const k = Math.min(HEAT.length - 2, Math.floor(at));
    const mix = (c: number): number => HEAT[k][c] + (HEAT[k + 1][c] - HEAT[k][c]) * (at - k);
    out.set([mix(0), mix(1), mix(2), 90 + 165 * t], 4 * i);
  }
  return out;
}
