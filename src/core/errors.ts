/**
 * The few error classes convkit throws. Each names the op (or file), the layer path when one is
 * known, and says what was expected and what came, e.g.
 * `conv2d (features.3): input has 64 channels, weight expects 128`.
 */
import { currentLayer } from './layer-context.js';

export class ConvkitError extends Error {
  /** The op, layer type or file the error is about. */
  readonly where: string;
  /** Dotted module path (`layer1.0.conv2`) when the error happened inside a module. */
  readonly path: string | undefined;
  constructor(where: string, detail: string, path: string | undefined = currentLayer()) {
    super(path ? `${where} (${path}): ${detail}` : `${where}: ${detail}`);
    this.name = new.target.name;
    this.where = where;
    this.path = path;
  }
}

/** Wrong shapes, ranks, channel counts, axes or sizes. */
export class ShapeError extends ConvkitError {}
/** Wrong element type, or mixing element types. */
export class DTypeError extends ConvkitError {}
/** A backend cannot do what was asked (missing kernel, disposed tensor, mixed backends). */
export class BackendError extends ConvkitError {}
/** A state dict or weight file does not fit the model. */
export class WeightsError extends ConvkitError {}
/** A data or weight file is malformed; `where` names the file and the message the byte offset. */
export class DataFormatError extends ConvkitError {}
/** A bad argument value that is not about shapes (negative learning rate, p outside [0, 1)). */
export class ArgumentError extends ConvkitError {}
