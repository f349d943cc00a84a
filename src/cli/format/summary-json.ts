/**
 * The JSON form of a summary: schema `convkit.summary/1`, documented in docs/analysis.md. Stable:
 * fields are only ever added within version 1; renaming or removing one makes it version 2.
 */
import type { ModelSummary } from '../../analysis/summary.js';
import { rowsToDepth } from '../../analysis/summary.js';

export const SUMMARY_SCHEMA = 'convkit.summary/1';

/** Counting conventions, repeated in every document so a reader does not need the docs. */
export const JSON_CONVENTIONS = {
  params: 'elements of parameters() (trainable or not), each shared tensor once; buffers counted apart',
  macs: 'multiply-accumulates of conv2d, linear and matmul ops for the whole batch, bias excluded; flops = 2 * macs',
  receptiveField:
    'per axis [height, width] in input pixels: size (padding included), jump (effective stride), start (centre of unit 0, pixel centres at 0, 1, ...), padding (effective: (size - 1) / 2 - start); union over all paths',
  memory:
    'bytes; activations = input plus every distinct tensor the forward pass produces; gradients = trainable parameters; optimizer state = slots x trainable parameters',
} as const;

export function summaryJson(s: ModelSummary, depth: number): object {
  const { totals: t } = s;
  return {
    schema: SUMMARY_SCHEMA,
    model: s.name,
    input: s.inputShape,
    batch: s.batch,
    mode: s.mode,
    depth,
    conventions: JSON_CONVENTIONS,
    totals: {
      params: t.params,
      trainableParams: t.trainableParams,
      buffers: t.buffers,
      macs: t.macs,
      flops: t.flops,
      receptiveField: t.receptiveField,
      outputShape: t.outputShape,
      paramBytes: t.paramBytes,
      bufferBytes: t.bufferBytes,
      forwardBytes: t.forwardBytes,
    },
    memory: s.memory,
    unused: s.unused,
    layers: rowsToDepth(s.rows, depth).map((r) => ({
      index: r.index,
      parent: r.parent,
      path: r.path,
      type: r.type,
      depth: r.depth,
      isLeaf: r.isLeaf,
      repeated: r.repeated,
      kernel: r.window ? r.window.kernel : null,
      stride: r.window ? r.window.stride : null,
      padding: r.window ? r.window.padding : null,
      dilation: r.window ? r.window.dilation : null,
      groups: r.window ? r.window.groups : null,
      inputShape: r.inputShape,
      outputShape: r.outputShape,
      params: r.params,
      ownParams: r.ownParams,
      trainableParams: r.trainableParams,
      buffers: r.buffers,
      ownBuffers: r.ownBuffers,
      macs: r.macs,
      ownMacs: r.ownMacs,
      flops: r.flops,
      outputBytes: r.outputBytes,
      receptiveField: r.receptiveField,
    })),
  };
}
