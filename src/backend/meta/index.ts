/**
 * The shape-only backend: storages remember dtype and size but hold no values, so a whole network
 * can be traced (shapes, costs, memory) without allocating a byte of activations. Analysis runs
 * models here; reading values is an error. Every kernel is the contract's size rule
 * (`RESULT_SIZES` in backend.ts), so a new kernel needs nothing here.
 */
import { allocFloat, type DType, dtypeOf } from '../../core/dtype.js';
import { BackendError } from '../../core/errors.js';
import { Storage } from '../../core/storage.js';
import {
  type Backend,
  type KernelName,
  type Kernels,
  type KernelSpecs,
  RESULT_SIZES,
  resultDType,
} from '../backend.js';

export class MetaStorage extends Storage {
  readonly backendName = 'meta';
  constructor(
    readonly dtype: DType,
    readonly size: number,
  ) {
    super();
  }
  protected free(): void {}
}

type Sizes = number | { readonly [field: string]: number | null } | undefined;

function storages(sizes: Sizes, dtype: DType): unknown {
  if (sizes === undefined) return undefined;
  if (typeof sizes === 'number') return new MetaStorage(dtype, sizes);
  return Object.fromEntries(
    Object.entries(sizes).map(([field, size]) => [field, size === null ? null : new MetaStorage(dtype, size)]),
  );
}

const metaKernel =
  <K extends KernelName>(name: K) =>
  (args: KernelSpecs[K]['args']): KernelSpecs[K]['out'] =>
    storages(RESULT_SIZES[name](args) as Sizes, resultDType(args)) as KernelSpecs[K]['out'];

const kernels = Object.fromEntries(
  (Object.keys(RESULT_SIZES) as KernelName[]).map((name) => [name, metaKernel(name)]),
) as unknown as Kernels;

export const metaBackend: Backend = {
  name: 'meta',
  hasData: false,
  write: (values, dtype) => new MetaStorage(dtype, values.length),
  adopt: (values) => new MetaStorage(dtypeOf(values), values.length),
  allocate: (dtype, size) => allocFloat(dtype, size),
  read: () => {
    throw new BackendError(
      'meta',
      'meta tensors have shapes but no values; run on the ref or native backend to read them',
    );
  },
  kernels,
};
