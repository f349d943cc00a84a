/**
 * Initialisation, after torch.nn.init: every function fills a tensor in place (tensor.assign,
 * under noGrad) and returns it. Random draws come from the given Generator (default
 * `defaultGenerator`); the distributions match PyTorch's, the bits do not (see core/random.ts).
 * On a backend without data (meta) nothing is drawn: there are no values to fill. Inside
 * `withoutRandomInit` nothing is drawn either (the tensors keep their values, zeros for a new
 * layer): how a model is built when its weights are about to be loaded. Constant fills still run.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { allocFloat, type FloatArray } from '../core/dtype.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import { formatShape, sizeOf } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { full } from '../ops/creation.js';

export type FanMode = 'fanIn' | 'fanOut';
export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leakyRelu'
  | 'selu';

let randomInitSkipped = false;

/**
 * Runs fn with the random fills (uniform, normal, truncNormal and those built on them) turned
 * into no-ops, so building a model allocates its parameters without drawing their values.
 */
export function withoutRandomInit<T>(fn: () => T): T {
  const before = randomInitSkipped;
  randomInitSkipped = true;
  try {
    return fn();
  } finally {
    randomInitSkipped = before;
  }
}

/** Fills t with values that draw() writes into a plain array, all at once (Generator.fillUniform / fillNormal). */
function fill(t: Tensor, generator: Generator | undefined, draw: (g: Generator, values: FloatArray) => void): Tensor {
  if (!t.backend.hasData || t.size === 0 || randomInitSkipped) return t;
  const values = allocFloat(t.dtype, t.size);
  draw(generator ?? defaultGenerator, values);
  noGrad(() => {
    const drawn = new Tensor(t.backend.write(values, t.dtype), t.shape, t.backend);
    t.assign(drawn);
    drawn.dispose();
  });
  return t;
}

/** U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1, generator?: Generator): Tensor {
  return fill(t, generator, (g, values) => g.fillUniform(values, a, b));
}

/** N(mean, std^2). */
export function normal(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  return fill(t, generator, (g, values) => g.fillNormal(values, mean, std));
}

export function constant(t: Tensor, value: number): Tensor {
  if (!t.backend.hasData) return t;
  noGrad(() => {
    const c = full(t.shape, value, { dtype: t.dtype, backend: t.backend.name });
    t.assign(c);
    c.dispose();
  });
  return t;
}

export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

export interface TruncNormalOptions {
  mean?: number;
  std?: number;
  /** Absolute cut-offs (not in units of std), default -2 and 2, as PyTorch's trunc_normal_. */
  a?: number;
  b?: number;
  generator?: Generator;
}

/** N(mean, std^2) conditioned on [a, b], by rejection (exact; refuses intervals it would rarely hit). */
export function truncNormal(t: Tensor, opts: TruncNormalOptions = {}): Tensor {
  const { mean = 0, std = 1, a = -2, b = 2, generator } = opts;
  if (!(a < b) || !(std > 0))
    throw new ArgumentError('truncNormal', `needs a < b and std > 0, got a=${a}, b=${b}, std=${std}`);
  return fill(t, generator, (g, values) => {
    if (g.fillNormal(values, mean, std, { lo: a, hi: b, maxTries: 10000 }) < values.length)
      throw new ArgumentError(
        'truncNormal',
        `[${a}, ${b}] lies too far in the tails of N(${mean}, ${std}^2) to sample by rejection`,
      );
  });
}

/** PyTorch's fan_in and fan_out: for a weight [out, in, ...kernel], in*prod(kernel) and out*prod(kernel). */
export function calculateFanInAndFanOut(t: Tensor | readonly number[]): { fanIn: number; fanOut: number } {
  const shape: readonly number[] = 'isTensor' in t ? t.shape : t;
  if (shape.length < 2) {
    throw new ShapeError(
      'calculateFanInAndFanOut',
      `fan in and fan out need a tensor of rank >= 2, got ${formatShape(shape)}`,
    );
  }
  const receptive = sizeOf(shape.slice(2));
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** torch.nn.init.calculate_gain; `param` is leaky ReLU's negative slope (default 0.01). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ArgumentError('calculateGain', `unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (default 0); a = sqrt(5) gives PyTorch's layer default. */
  a?: number;
  /** Default 'fanIn' (preserves the forward variance); 'fanOut' preserves the backward one. */
  mode?: FanMode;
  /** Default 'leakyRelu' (with slope a), as PyTorch. */
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(where: string, t: Tensor, opts: KaimingOptions): number {
  const { a = 0, mode = 'fanIn', nonlinearity = 'leakyRelu' } = opts;
  if (mode !== 'fanIn' && mode !== 'fanOut')
    throw new ArgumentError(where, `mode must be 'fanIn' or 'fanOut', got '${String(mode)}'`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = mode === 'fanIn' ? fanIn : fanOut;
  if (fan === 0) return 0;
  return calculateGain(nonlinearity, a) / Math.sqrt(fan);
}

/** He et al. 2015, uniform: U(-b, b) with b = gain * sqrt(3 / fan). */
export function kaimingUniform(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform', t, opts);
  return uniform(t, -bound, bound, opts.generator);
}

/** He et al. 2015, normal: N(0, std^2) with std = gain / sqrt(fan). */
export function kaimingNormal(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd('kaimingNormal', t, opts), opts.generator);
}

export interface XavierOptions {
  /** Default 1. */
  gain?: number;
  generator?: Generator;
}

function xavierStd(t: Tensor, gain: number): number {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}

/** Glorot & Bengio 2010, uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform(t: Tensor, opts: XavierOptions = {}): Tensor {
  const bound = Math.sqrt(3) * xavierStd(t, opts.gain ?? 1);
  return uniform(t, -bound, bound, opts.generator);
}

/** Glorot & Bengio 2010, normal: std = gain * sqrt(2 / (fan_in + fan_out)). */
export function xavierNormal(t: Tensor, opts: XavierOptions = {}): Tensor {
  return normal(t, 0, xavierStd(t, opts.gain ?? 1), opts.generator);
}

/**
 * PyTorch's default for Conv and Linear layers (reset_parameters): weight kaiming_uniform_ with
 * a = sqrt(5), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null, generator?: Generator): void {
  kaimingUniform(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const { fanIn } = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform(bias, -bound, bound, generator);
  }
}
