/** Names inside a checkpoint, apart from checkpoint.ts so the page can read one without node:fs. */

/** A checkpoint names the model's tensors `model.<state-dict key>`; the rest is optimiser state. */
export const MODEL_KEY_PREFIX = 'model.';
