/** Every op, as plain functions over tensors. */
export * from './activation.js';
export * from './arithmetic.js';
export * from './convert.js';
export * from './creation.js';
export * from './layout.js';
export * from './matmul.js';
export * from './reduce.js';
export * from './softmax.js';
