/**
 * Optimiser update kernels of the reference backend. They change the parameter and its state
 * buffers in place, element by element, in the order of operations of torch.optim's single-tensor
 * implementations (PyTorch 1.13). For float32 they also round where PyTorch's float32 kernels
 * round: scalars to float32, the result of every tensor op, with `a + alpha * b` fused as its
 * vectorised kernels do (a product of two float32 values is exact in a double). So both dtypes
 * agree with PyTorch to within an ulp or two.
 */
import type { FloatArray } from '../../core/dtype.js';
import type { Kernels, KernelSpecs } from '../backend.js';
import { data } from './storage.js';

type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

const exact = (x: number): number => x;
/** Rounding to the storage's precision. */
const rounding = (a: FloatArray): ((x: number) => number) => (a instanceof Float32Array ? Math.fround : exact);

/**
 * torch.optim.SGD: d = g (+ weightDecay * p); with momentum, buf = d on the first step (no
 * dampening) and buf = momentum * buf + (1 - dampening) * d after; d = buf, or d + momentum * buf
 * with Nesterov; p -= lr * d.
 */
export function sgdStep({
  param,
  grad,
  momentumBuffer,
  lr,
  momentum,
  dampening,
  nesterov,
  weightDecay,
  maximize,
  firstStep,
}: Args<'sgdStep'>): void {
  const P = data(param);
  const G = data(grad);
  const B = momentumBuffer === null ? null : data(momentumBuffer);
  const r = rounding(P);
  const [decay, mom, keep, negLr] = [r(weightDecay), r(momentum), r(1 - dampening), r(-lr)];
  for (let i = 0; i < P.length; i++) {
    let d = maximize ? -G[i] : G[i];
    if (weightDecay !== 0) d = r(d + decay * P[i]);
    if (B !== null) {
      // Stores into the typed arrays round; PyTorch reads the buffer back from its storage too.
      B[i] = firstStep ? d : r(B[i] * mom) + keep * d;
      d = nesterov ? r(d + mom * B[i]) : B[i];
    }
    P[i] = P[i] + negLr * d;
  }
}

/**
 * torch.optim.Adam and AdamW with the bias corrections of the single-tensor implementation:
 * step size lr / (1 - beta1^t), denominator sqrt(v) / sqrt(1 - beta2^t) + eps, where v is the
 * running maximum of exp_avg_sq with amsgrad. Adam adds weightDecay * p to the gradient; AdamW
 * (`decoupled`) first scales p by 1 - lr * weightDecay.
 */
export function adamStep(args: Args<'adamStep'>): void {
  const { step, lr, beta1, beta2, eps, weightDecay, decoupled, amsgrad, maximize } = args;
  const P = data(args.param);
  const G = data(args.grad);
  const M = data(args.expAvg);
  const V = data(args.expAvgSq);
  const Vmax = amsgrad && args.maxExpAvgSq !== null ? data(args.maxExpAvgSq) : null;
  const r = rounding(P);
  // Scalars PyTorch computes in Python doubles, then hands to the kernels (float32 for float32).
  const negStepSize = r(-(lr / (1 - beta1 ** step)));
  const bias2Sqrt = r(Math.sqrt(1 - beta2 ** step));
  const shrink = r(1 - lr * weightDecay);
  const [b1, b2, c1, c2, decay, epsilon] = [r(beta1), r(beta2), r(1 - beta1), r(1 - beta2), r(weightDecay), r(eps)];
  const coupledDecay = !decoupled && weightDecay !== 0;
  for (let i = 0; i < P.length; i++) {
    let g = maximize ? -G[i] : G[i];
    if (coupledDecay) g = r(g + decay * P[i]);
    if (decoupled) P[i] = P[i] * shrink;
    M[i] = r(M[i] * b1) + c1 * g;
    V[i] = r(V[i] * b2) + r(c2 * g) * g;
    let v = V[i];
    if (Vmax !== null) {
      // Math.max propagates NaN, as torch.maximum does.
      Vmax[i] = Math.max(Vmax[i], v);
      v = Vmax[i];
    }
    const denom = r(r(Math.sqrt(v)) / bias2Sqrt) + epsilon;
    P[i] = P[i] + r(r(negStepSize * M[i]) / r(denom));
  }
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const optimKernels = { sgdStep, adamStep } satisfies Partial<Kernels>;
