// PLACEHOLDER: replaced by the conv2d kernels (im2col + gemm).
import { BackendError } from '../../core/errors.js';
const todo = (): never => { throw new BackendError('ref', 'kernel not written yet'); };
export const conv2d = todo, conv2dBackwardData = todo, conv2dBackwardWeight = todo;
