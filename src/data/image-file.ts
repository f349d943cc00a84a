/**
 * One image file as a float32 CHW sample, decoded by sharp (libvips: PNG, JPEG, WebP, GIF, TIFF,
 * AVIF, SVG): turned as its EXIF orientation says, converted to greyscale or sRGB by the channels
 * asked for, scaled to cover the height and width and centre-cropped (sharp's default Lanczos-3
 * kernel), alpha dropped, pixels scaled from bytes to [0, 1]. Training data (image-folder.ts) and
 * `convkit predict` read images the same way here.
 */
import type { OutputInfo } from 'sharp';
import { ArgumentError, DataFormatError } from '../core/errors.js';
import type { ImageShape } from './transforms.js';

/** Larger images are refused (a decompression bomb), as libvips' own default limit does. */
const MAX_INPUT_PIXELS = 100_000_000;

/** Checks that `shape` is a greyscale or RGB image shape; ArgumentError naming `where` if not. */
export function checkImageChannels(where: string, [c, h, w]: ImageShape): void {
  if (c !== 1 && c !== 3)
    throw new ArgumentError(where, `images are read as greyscale (1 channel) or RGB (3), not ${c} channels`);
  if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1))
    throw new ArgumentError(where, `image size must be positive integers, got ${h}x${w}`);
}

/**
 * The image at `source` (a file path, or the encoded bytes themselves) as `shape` [c, h, w] values
 * in [0, 1]; DataFormatError naming `name` (default: the path) if it cannot be read.
 */
export async function decodeImage(
  source: string | Buffer,
  shape: ImageShape,
  name = typeof source === 'string' ? source : `${source.length} bytes`,
): Promise<Float32Array> {
  checkImageChannels('decodeImage', shape);
  const [c, h, w] = shape;
  // Loaded on first use: a loader worker that never decodes a file does not pay for libvips.
  const { default: sharp } = await import('sharp');
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let image = sharp(source, { limitInputPixels: MAX_INPUT_PIXELS })
      .rotate()
      .resize(w, h, { fit: 'cover', position: 'centre' })
      .removeAlpha();
    image = c === 1 ? image.grayscale() : image.toColourspace('srgb');
    raw = await image.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new DataFormatError(name, `cannot be read as an image: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { data, info } = raw;
  const out = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = data[(y * w + x) * info.channels + ch] / 255;
    }
  }
  return out;
}
