// PLACEHOLDER: replaced by the nll loss kernels.
import { BackendError } from '../../core/errors.js';
const todo = (): never => { throw new BackendError('ref', 'kernel not written yet'); };
export const nllLoss = todo, nllLossBackward = todo;
