// PLACEHOLDER: replaced by the optimiser update kernels.
import { BackendError } from '../../core/errors.js';
const todo = (): never => { throw new BackendError('ref', 'kernel not written yet'); };
export const sgdStep = todo, adamStep = todo;
