/** Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD). */
import type { Tensor } from '../core/tensor.js';
import { type Fail, HyperReader } from './hyper.js';
import {
  type BaseHyper,
  Optimizer,
  type ParamGroup,
  type ParamsInput,
  type ParamState,
  type StepScalars,
} from './optimizer.js';

export interface SgdHyper extends BaseHyper {
  momentum: number;
  /** Fraction of the gradient held back from the momentum buffer (not on the first step). */
  dampening: number;
  nesterov: boolean;
}

/** lr has no default, as in PyTorch 1.13: give it here or in every parameter group. */
export type SgdOptions = Partial<SgdHyper>;

const SGD_DEFAULTS: Omit<SgdHyper, 'lr'> = {
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
  maximize: false,
};

export class SGD extends Optimizer<SgdHyper> {
  readonly stateNames = ['momentumBuffer'] as const;

  constructor(params: ParamsInput<SgdHyper>, options: SgdOptions = {}) {
    super('SGD', params, SGD_DEFAULTS, options);
  }

  protected parseHyper(record: Readonly<Record<string, unknown>>, fail: Fail): SgdHyper {
    if (record.lr === undefined)
      fail(
        'lr is required (torch.optim.SGD has no default learning rate); pass it in the options or in every parameter group',
      );
    const r = new HyperReader(record, fail);
    const hyper: SgdHyper = {
      lr: r.number('lr', { min: 0 }),
      momentum: r.number('momentum', { min: 0 }),
      dampening: r.number('dampening'),
      weightDecay: r.number('weightDecay', { min: 0 }),
      nesterov: r.boolean('nesterov'),
      maximize: r.boolean('maximize'),
    };
    r.finish();
    if (hyper.nesterov && (hyper.momentum <= 0 || hyper.dampening !== 0)) {
      fail(
        `nesterov momentum requires momentum > 0 and dampening = 0, got momentum ${hyper.momentum} and dampening ${hyper.dampening}`,
      );
    }
    return hyper;
  }

  /** The momentum buffer may be absent even after steps (momentum 0, or momentum switched on later). */
  requiredState(): readonly string[] {
    return [];
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<SgdHyper>, state: ParamState): void {
    // Without momentum PyTorch keeps no buffer; with it, the first step copies the gradient in.
    const buffer = group.momentum !== 0 ? this.buffer(param, state, 'momentumBuffer') : null;
    param.backend.kernels.sgdStep({
      param: param.storage,
      grad: grad.storage,
      momentumBuffer: buffer === null ? null : buffer.tensor.storage,
      ...this.stepScalars(group).args,
      firstStep: buffer?.fresh === true,
    });
    param.storage.version++;
  }

  protected stepScalars(group: ParamGroup<SgdHyper>): StepScalars & { kernel: 'sgdStep' } {
    const { lr, momentum, dampening, nesterov, weightDecay, maximize } = group;
    // firstStep: a replayed step's momentum buffers exist (update() says whether this one's is fresh).
    const args = { lr, momentum, dampening, nesterov, weightDecay, maximize, firstStep: false };
    return { kernel: 'sgdStep', args };
  }

  /** Whether there is a momentum buffer (the step's plan and buffers depend on it). */
  protected recordedShape(group: SgdHyper): unknown {
    return group.momentum !== 0;
  }
}
