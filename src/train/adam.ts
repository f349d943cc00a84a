/**
 * Adam (torch.optim.Adam: weight decay added to the gradient) and AdamW (torch.optim.AdamW:
 * decoupled weight decay, p *= 1 - lr * weightDecay before the Adam update), with amsgrad and
 * maximize, and the bias corrections of PyTorch's single-tensor implementation.
 */
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

export interface AdamHyper extends BaseHyper {
  /** Decay rates of the running averages of the gradient and of its square, each in [0, 1). */
  betas: [number, number];
  eps: number;
  /** Normalise by the running maximum of the squared-gradient average (Reddi et al. 2018). */
  amsgrad: boolean;
}

export type AdamOptions = Partial<AdamHyper>;

const ADAM_DEFAULTS: AdamHyper = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  amsgrad: false,
  maximize: false,
};

abstract class AdamFamily extends Optimizer<AdamHyper> {
  readonly stateNames = ['expAvg', 'expAvgSq', 'maxExpAvgSq'] as const;
  /** AdamW's decoupled weight decay instead of Adam's L2 term in the gradient. */
  protected abstract readonly decoupled: boolean;

  protected parseHyper(record: Readonly<Record<string, unknown>>, fail: Fail): AdamHyper {
    const r = new HyperReader(record, fail);
    const hyper: AdamHyper = {
      lr: r.number('lr', { min: 0 }),
      betas: r.pair('betas', { min: 0, below: 1 }),
      eps: r.number('eps', { min: 0 }),
      weightDecay: r.number('weightDecay', { min: 0 }),
      amsgrad: r.boolean('amsgrad'),
      maximize: r.boolean('maximize'),
    };
    r.finish();
    return hyper;
  }

  requiredState(group: AdamHyper): readonly string[] {
    return group.amsgrad ? ['expAvg', 'expAvgSq', 'maxExpAvgSq'] : ['expAvg', 'expAvgSq'];
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<AdamHyper>, state: ParamState): void {
    const expAvg = this.buffer(param, state, 'expAvg').tensor;
    const expAvgSq = this.buffer(param, state, 'expAvgSq').tensor;
    const maxExpAvgSq = group.amsgrad ? this.buffer(param, state, 'maxExpAvgSq').tensor : null;
    param.backend.kernels.adamStep({
      param: param.storage,
      grad: grad.storage,
      expAvg: expAvg.storage,
      expAvgSq: expAvgSq.storage,
      maxExpAvgSq: maxExpAvgSq === null ? null : maxExpAvgSq.storage,
      ...this.stepScalars(group, state).args,
    });
    param.storage.version++;
  }

  protected stepScalars(group: ParamGroup<AdamHyper>, state: ParamState): StepScalars & { kernel: 'adamStep' } {
    const { lr, betas, eps, weightDecay, amsgrad, maximize } = group;
    const [beta1, beta2] = betas;
    const args = { step: state.step, lr, beta1, beta2, eps, weightDecay, amsgrad, maximize, decoupled: this.decoupled };
    return { kernel: 'adamStep', args };
  }

  /** Whether there is a running maximum (the step's plan and buffers depend on it). */
  protected recordedShape(group: AdamHyper): unknown {
    return group.amsgrad;
  }
}

/** Adam: defaults lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0 (an L2 term in the gradient). */
export class Adam extends AdamFamily {
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super('Adam', params, ADAM_DEFAULTS, options);
  }
}

/** AdamW: as Adam, but weight decay (default 1e-2) shrinks the weights directly. */
export class AdamW extends AdamFamily {
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super('AdamW', params, { ...ADAM_DEFAULTS, weightDecay: 1e-2 }, options);
  }
}
