// PLACEHOLDER: replaced by batch norm and LRN kernels.
import { BackendError } from '../../core/errors.js';
const todo = (): never => { throw new BackendError('ref', 'kernel not written yet'); };
export const batchNormTrain = todo, batchNormInfer = todo, batchNormBackward = todo, localResponseNorm = todo, localResponseNormBackward = todo;
