/**
 * The node builders of ONNX export (io/onnx-export.ts walks the model): the graph under
 * construction (value names for traced tensors, nodes, initializers as raw little-endian bytes) and
 * the ONNX nodes each traced convkit op becomes, with the arithmetic that keeps them exact
 * (ceil-mode windows as end padding, adaptive pooling as averaging matrices). See
 * docs/formats.md ("ONNX export") for the op mapping.
 */
import { endianness } from 'node:os';
import type { Conv2dGeometry, Pool2dGeometry } from '../backend/backend.js';
import { ArgumentError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import type { OpEvent } from '../core/trace.js';
import { ATTR, ONNX_FLOAT, ONNX_INT64, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './onnx-proto.js';

const OP = 'exportOnnx';

const ints = (name: string, v: readonly number[]): OnnxAttribute => ({ name, type: ATTR.INTS, ints: [...v] });
const int = (name: string, v: number): OnnxAttribute => ({ name, type: ATTR.INT, i: v });
const float = (name: string, v: number): OnnxAttribute => ({ name, type: ATTR.FLOAT, f: v });

const LITTLE_ENDIAN = endianness() === 'LE';

/** float32 little-endian bytes (ONNX raw_data); a view, not a copy, on little-endian machines. */
function float32Bytes(values: ArrayLike<number>): Uint8Array {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  if (LITTLE_ENDIAN) return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  const bytes = new Uint8Array(f.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < f.length; i++) view.setFloat32(i * 4, f[i], true);
  return bytes;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return bytes;
}

/** The graph under construction: names for traced tensors, nodes, initializers. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers = new Map<string, OnnxTensor>();
  /** Tensor -> value name. */
  private readonly names = new Map<Tensor, string>();
  /** Value names whose axis 0 is the (symbolic) batch. */
  readonly batched = new Set<string>();
  private counter = 0;
  private readonly used = new Set<string>();

  constructor(
    private readonly params: ReadonlyMap<Tensor, string>,
    readonly dynamicBatch: boolean,
  ) {}

  unique(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  bind(t: Tensor, name: string, batched: boolean): void {
    this.names.set(t, name);
    if (batched) this.batched.add(name);
  }

  nameOf(t: Tensor): string | undefined {
    return this.names.get(t);
  }

  /** The value name of an op's input: a traced value, a parameter, or a new constant. */
  input(t: Tensor): string {
    const known = this.names.get(t);
    if (known !== undefined) return known;
    const param = this.params.get(t);
    // Parameter and buffer names were reserved up front; other constants get fresh names.
    const name = param ?? this.unique('constant');
    this.initializers.set(name, {
      name,
      dims: [...t.shape],
      dataType: ONNX_FLOAT,
      rawData: float32Bytes(t.toArray()),
    });
    this.names.set(t, name);
    return name;
  }

  floatConstant(base: string, values: readonly number[] | Float32Array, dims: readonly number[]): string {
    const name = this.unique(base);
    this.initializers.set(name, { name, dims: [...dims], dataType: ONNX_FLOAT, rawData: float32Bytes(values) });
    return name;
  }

  intConstant(base: string, values: readonly number[]): string {
    const name = this.unique(base);
    this.initializers.set(name, { name, dims: [values.length], dataType: ONNX_INT64, rawData: int64Bytes(values) });
    return name;
  }

  node(opType: string, input: string[], where: string, attribute: OnnxAttribute[] = []): string {
    const output = this.unique(`${where}/${opType}`);
    this.nodes.push({ input, output: [output], name: output, opType, attribute });
    return output;
  }
}

/** The explicit end padding that makes floor-mode ONNX pooling give PyTorch's (ceil-mode) output size. */
function poolPads(g: Pool2dGeometry): { pads: number[]; extraH: number; extraW: number } {
  const need = (out: number, stride: number, kernel: number, dilation: number, size: number, pad: number): number =>
    Math.max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size - 2 * pad);
  const extraH = need(g.outH, g.strideH, g.kernelH, g.dilationH, g.inH, g.padH);
  const extraW = need(g.outW, g.strideW, g.kernelW, g.dilationW, g.inW, g.padW);
  return { pads: [g.padH, g.padW, g.padH + extraH, g.padW + extraW], extraH, extraW };
}

/** rows x in averaging matrix of adaptive pooling along one axis (PyTorch's floor/ceil bins). */
function adaptiveMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const start = Math.floor((o * inSize) / outSize);
    const end = Math.ceil(((o + 1) * inSize) / outSize);
    for (let i = start; i < end; i++) m[o * inSize + i] = 1 / (end - start);
  }
  return m;
}

function transpose2d(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

/** Emits the ONNX nodes for one traced op and returns the name of its output value. */
export function emit(b: GraphBuilder, e: OpEvent): string {
  const where = e.path ?? 'model';
  const fail = (detail: string): never => {
    throw new ArgumentError(OP, `${e.op} in ${where}: ${detail}`, e.path);
  };
  const a = e.attrs;
  const xs = e.inputs.map((t) => (t === null ? null : b.input(t)));
  const x = xs[0] as string;
  const batchedIn = xs.some((n) => n !== null && b.batched.has(n));
  const withRelu = (name: string, relu: unknown): string => (relu === true ? b.node('Relu', [name], where) : name);
  const scalar = (): string => b.floatConstant(`${where}/scalar`, [a.scalar as number], []);
  const binary: Record<string, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' };
  switch (e.op) {
    case 'conv2d': {
      const g = a.geometry as Conv2dGeometry;
      const inputs = xs.filter((n): n is string => n !== null);
      let y = b.node('Conv', inputs, where, [
        ints('kernel_shape', [g.kernelH, g.kernelW]),
        ints('strides', [g.strideH, g.strideW]),
        ints('pads', [g.padTop, g.padLeft, g.padBottom, g.padRight]),
        ints('dilations', [g.dilationH, g.dilationW]),
        int('group', g.groups),
      ]);
      const addend = a.addend as Tensor | null;
      if (addend) y = b.node('Add', [y, b.input(addend)], where);
      return withRelu(y, a.relu);
    }
    case 'maxPool2d': {
      const g = a.geometry as Pool2dGeometry;
      const { pads } = poolPads(g);
      if (pads[2] >= g.kernelH || pads[3] >= g.kernelW)
        fail(`ceil-mode padding ${pads.join(', ')} reaches the kernel ${g.kernelH}x${g.kernelW}`);
      const attrs = [
        ints('kernel_shape', [g.kernelH, g.kernelW]),
        ints('strides', [g.strideH, g.strideW]),
        ints('pads', pads),
      ];
      if (g.dilationH !== 1 || g.dilationW !== 1) attrs.push(ints('dilations', [g.dilationH, g.dilationW]));
      return b.node('MaxPool', [x], where, attrs);
    }
    case 'avgPool2d': {
      const g = a.geometry as Pool2dGeometry;
      if (a.divisorOverride !== null && a.divisorOverride !== undefined)
        fail('divisorOverride has no ONNX AveragePool equivalent');
      const { pads, extraH, extraW } = poolPads(g);
      if (pads[2] >= g.kernelH || pads[3] >= g.kernelW)
        fail(`ceil-mode padding ${pads.join(', ')} reaches the kernel ${g.kernelH}x${g.kernelW}`);
      // PyTorch counts the symmetric padding but never the ceil-mode overhang; ONNX counts all or none.
      const include = a.countIncludePad === true && (g.padH > 0 || g.padW > 0);
      if (include && (extraH > 0 || extraW > 0))
        fail('countIncludePad with both padding and ceil-mode windows has no exact ONNX AveragePool');
      return b.node('AveragePool', [x], where, [
        ints('kernel_shape', [g.kernelH, g.kernelW]),
        ints('strides', [g.strideH, g.strideW]),
        ints('pads', pads),
        int('count_include_pad', include ? 1 : 0),
      ]);
    }
    case 'adaptiveAvgPool2d': {
      const [, , inH, inW] = (e.inputs[0] as Tensor).shape;
      const [, , outH, outW] = e.output.shape;
      if (outH === 1 && outW === 1) return b.node('GlobalAveragePool', [x], where);
      if (inH % outH === 0 && inW % outW === 0) {
        const k = [inH / outH, inW / outW];
        return b.node('AveragePool', [x], where, [ints('kernel_shape', k), ints('strides', k)]);
      }
      // Exact adaptive bins that overlap or differ in size: two averaging matrices, rows then columns.
      const colT = b.floatConstant(`${where}/cols`, transpose2d(adaptiveMatrix(inW, outW), outW, inW), [inW, outW]);
      const rows = b.floatConstant(`${where}/rows`, adaptiveMatrix(inH, outH), [outH, inH]);
      return b.node('MatMul', [rows, b.node('MatMul', [x, colT], where)], where);
    }
    case 'localResponseNorm': {
      const size = a.size as number;
      // PyTorch pads size/2 channels before and (size-1)/2 after; ONNX the other way round when size is even.
      if (size % 2 === 0) fail(`an even size (${size}) centres the window differently in ONNX's LRN`);
      return b.node('LRN', [x], where, [
        int('size', size),
        float('alpha', a.alpha as number),
        float('beta', a.beta as number),
        float('bias', a.k as number),
      ]);
    }
    case 'batchNorm':
    case 'concatBatchNorm': {
      const mean = a.runningMean as Tensor | undefined;
      const variance = a.runningVar as Tensor | undefined;
      if (!mean || !variance) fail('batch norm in training mode; export the model in eval mode');
      const count = e.op === 'concatBatchNorm' ? (a.count as number) : 1;
      const joined = count === 1 ? x : b.node('Concat', xs.slice(0, count) as string[], where, [int('axis', 1)]);
      const [weight, bias] = xs.slice(count);
      const channels = (mean as Tensor).size;
      const scale = weight ?? b.floatConstant(`${where}/ones`, new Array(channels).fill(1), [channels]);
      const shift = bias ?? b.floatConstant(`${where}/zeros`, new Array(channels).fill(0), [channels]);
      const y = b.node(
        'BatchNormalization',
        [joined, scale, shift, b.input(mean as Tensor), b.input(variance as Tensor)],
        where,
        [float('epsilon', a.eps as number)],
      );
      return withRelu(y, a.relu);
    }
    case 'linear': {
      const inputs = xs.filter((n): n is string => n !== null);
      return withRelu(b.node('Gemm', inputs, where, [int('transB', 1)]), a.relu);
    }
    case 'matmul':
      return b.node('MatMul', [x, xs[1] as string], where);
    case 'relu':
      return b.node('Relu', [x], where);
    case 'sigmoid':
      return b.node('Sigmoid', [x], where);
    case 'tanh':
      return b.node('Tanh', [x], where);
    case 'add':
    case 'sub':
    case 'mul':
    case 'div':
      return b.node(binary[e.op], [x, xs.length > 1 ? (xs[1] as string) : scalar()], where);
    case 'rsub':
      return b.node('Sub', [scalar(), x], where);
    case 'reshape': {
      const from = (e.inputs[0] as Tensor).shape;
      const to = e.output.shape;
      if (!b.dynamicBatch || !batchedIn) return b.node('Reshape', [x, b.intConstant(`${where}/shape`, to)], where);
      if (to.length === 0 || to[0] !== from[0] || to.slice(1).includes(0))
        fail(`reshape ${formatShape(from)} -> ${formatShape(to)} moves the batch axis; export with dynamicBatch false`);
      return b.node('Reshape', [x, b.intConstant(`${where}/shape`, [0, ...to.slice(1)])], where);
    }
    case 'permute': {
      const perm = a.perm as number[];
      if (b.dynamicBatch && batchedIn && perm[0] !== 0) fail('permute moves the batch axis');
      return b.node('Transpose', [x], where, [ints('perm', perm)]);
    }
    case 'slice': {
      const axis = a.axis as number;
      if (b.dynamicBatch && batchedIn && axis === 0) fail('slice along the batch axis');
      return b.node(
        'Slice',
        [
          x,
          b.intConstant(`${where}/starts`, [a.start as number]),
          b.intConstant(`${where}/ends`, [a.end as number]),
          b.intConstant(`${where}/axes`, [axis]),
        ],
        where,
      );
    }
    case 'pad': {
      const pads = a.pads as [number, number][];
      if (b.dynamicBatch && batchedIn && (pads[0][0] !== 0 || pads[0][1] !== 0)) fail('padding the batch axis');
      const onnxPads = b.intConstant(`${where}/pads`, [...pads.map((p) => p[0]), ...pads.map((p) => p[1])]);
      return b.node('Pad', [x, onnxPads, b.floatConstant(`${where}/value`, [a.value as number], [])], where);
    }
    case 'concat': {
      const axis = a.axis as number;
      if (b.dynamicBatch && batchedIn && axis === 0) fail('concatenation along the batch axis');
      return b.node('Concat', xs as string[], where, [int('axis', axis)]);
    }
    case 'to':
      return b.node('Identity', [x], where);
    case 'cast':
      if (e.output.dtype !== 'float32') fail(`a cast to ${e.output.dtype}; ONNX export writes float32`);
      return b.node('Identity', [x], where);
    default:
      return fail('this op has no ONNX export (add a case to io/onnx-export-nodes.ts)');
  }
}
