/** Builds a transform again from its `spec` (plain data), e.g. inside a loader's worker thread. */
import { ArgumentError } from '../core/errors.js';
import { pcaLighting } from './pca-lighting.js';
import { resize } from './resize.js';
import {
  centerCrop,
  compose,
  horizontalFlip,
  normalize,
  pad,
  randomCrop,
  type Transform,
  type TransformSpec,
} from './transforms.js';

export function transformFromSpec(spec: TransformSpec): Transform {
  switch (spec.op) {
    case 'pad':
      return pad(spec.padding, spec.fill);
    case 'centerCrop':
      return centerCrop(spec.size);
    case 'randomCrop':
      return randomCrop(spec.size, spec.padding);
    case 'horizontalFlip':
      return horizontalFlip(spec.p);
    case 'normalize':
      return normalize(spec.mean, spec.std);
    case 'resize':
      return resize(spec.height, spec.width);
    case 'pcaLighting':
      return pcaLighting(spec, spec.std);
    case 'compose':
      return compose(spec.transforms.map(transformFromSpec));
    default:
      throw new ArgumentError('transform', `unknown transform spec ${JSON.stringify(spec).slice(0, 80)}`);
  }
}

/** The transform's spec, or an ArgumentError saying that a hand-written transform cannot go to a worker. */
export function specOf(t: Transform): TransformSpec {
  if (t.spec === undefined)
    throw new ArgumentError(
      'loader',
      `transform ${t.name} has no spec, so it cannot run in a worker thread; build it from src/data/transforms.ts or use workers: 0`,
    );
  return t.spec;
}
