/**
 * The reference backend: every kernel in plain TypeScript over typed arrays, float32 and float64.
 * It is the executable specification the other backends are tested against.
 */
import { allocFloat, type DType, type FloatArray } from '../../core/dtype.js';
import type { Shape } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { Backend, Kernels } from '../backend.js';
import { convKernels } from './conv.js';
import { elementwiseKernels } from './elementwise.js';
import { layoutKernels } from './layout.js';
import { lossKernels } from './loss.js';
import { matmulKernels } from './matmul.js';
import { normKernels } from './norm.js';
import { optimKernels } from './optim.js';
import { poolKernels } from './pool.js';
import { reduceKernels } from './reduce.js';
import { data, RefStorage } from './storage.js';

// Each file's kernels are listed in that file, so a kernel added to one touches only it.
const kernels: Kernels = {
  ...convKernels,
  ...elementwiseKernels,
  ...layoutKernels,
  ...lossKernels,
  ...matmulKernels,
  ...normKernels,
  ...optimKernels,
  ...poolKernels,
  ...reduceKernels,
};

export const refBackend: Backend = {
  name: 'ref',
  hasData: true,
  write(values: FloatArray, dtype: DType): Storage {
    const copy = allocFloat(dtype, values.length);
    copy.set(values);
    return new RefStorage(copy);
  },
  allocate(dtype: DType, size: number): FloatArray {
    return allocFloat(dtype, size);
  },
  adopt(values: FloatArray): Storage {
    return new RefStorage(values);
  },
  read(storage: Storage, _shape: Shape): FloatArray {
    return data(storage).slice();
  },
  kernels,
};
