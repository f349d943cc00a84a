// PLACEHOLDER: replaced by the pooling kernels.
import { BackendError } from '../../core/errors.js';
const todo = (): never => { throw new BackendError('ref', 'kernel not written yet'); };
export const maxPool2d = todo, maxPool2dBackward = todo, avgPool2d = todo, avgPool2dBackward = todo, adaptiveAvgPool2d = todo, adaptiveAvgPool2dBackward = todo;
