/**
 * Images in the page turned into a model's input, as `convkit predict` turns image files into it
 * (src/cli/predict.ts): scaled to cover the input's height and width and centre-cropped, grey for
 * a 1-channel model, pixels in [0, 1], CHW. The browser decodes and scales (canvas smoothing), so
 * a picked file gives nearly, not exactly, the pixels sharp gives in Node; nothing is uploaded.
 */

type Shape = readonly [number, number, number];

/** ITU-R BT.601 luma, the weights of a canvas's and most decoders' greyscale. */
const LUMA = [0.299, 0.587, 0.114] as const;

/** RGBA bytes of a width x height image -> CHW values in [0, 1] with `channels` 1 (grey) or 3. */
export function rgbaToChw(rgba: Uint8ClampedArray, channels: number, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (channels === 1) out[i] = Math.round(LUMA[0] * r + LUMA[1] * g + LUMA[2] * b) / 255;
    else for (let c = 0; c < 3; c++) out[c * plane + i] = [r, g, b][c] / 255;
  }
  return out;
}

/** Any drawable image (a bitmap, a canvas) as the model's input: cover, centre crop, grey or RGB. */
export function imageToInput(image: CanvasImageSource & { width: number; height: number }, shape: Shape): Float32Array {
  const [channels, h, w] = shape;
  if (channels !== 1 && channels !== 3)
    throw new Error(`the model takes ${channels}-channel images; only greyscale (1) and RGB (3) are read`);
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, w, h);
  const scale = Math.max(w / image.width, h / image.height);
  const sw = w / scale;
  const sh = h / scale;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, (image.width - sw) / 2, (image.height - sh) / 2, sw, sh, 0, 0, w, h);
  return rgbaToChw(ctx.getImageData(0, 0, w, h).data, channels, h, w);
}

/** A picked file decoded by the browser, as the model's input. */
export async function fileToInput(file: Blob, shape: Shape): Promise<Float32Array> {
  const bitmap = await createImageBitmap(file);
  try {
    return imageToInput(bitmap, shape);
  } finally {
    bitmap.close();
  }
}
