/**
 * ONNX export checked against ONNX Runtime: each zoo family (and the paper variants) is exported
 * with seeded random weights, non-trivial batch-norm statistics and biases, then run by
 * onnxruntime-node on a batch of 2 (the exported batch axis is symbolic) and compared with
 * convkit's own eval output.
 *
 * Tolerance, per element: |ort - convkit| <= 1e-4 * max|convkit| + 1e-5. Both sides compute in
 * float32 with different summation orders (oneDNN or the reference loops against ORT's MLAS, and
 * ORT folds BatchNormalization into Conv, as convkit's own inference fusion does), so each output
 * carries a relative error of a few float32 epsilons times the depth; the largest measured
 * relative error was about 1e-6 (ResNet-50, DenseNet-121), so the bound leaves a 100x margin and
 * would still catch a wrong padding, pooling divisor or LRN scale (errors of 1e-2 and more).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { withBackend } from '../../src/backend/registry.js';
import { runProgram } from '../../src/cli/program.js';
import { ArgumentError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { exportOnnx, writeOnnx } from '../../src/io/onnx-export.js';
import { decodeOnnxModel } from '../../src/io/onnx-proto.js';
import { googlenet } from '../../src/models/googlenet.js';
import { buildModel } from '../../src/models/registry.js';
import { LocalResponseNorm } from '../../src/nn/local-response-norm.js';
import type { TensorModule } from '../../src/nn/module.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { randn } from '../../src/ops/creation.js';
import { perturb, poolingEdgeCases } from '../helpers/onnx-models.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-onnx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SESSION: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  // ORT's worker threads spin after each Run() unless told to stop (as scripts/bench/peers.ts does).
  extra: { session: { force_spinning_stop: '1' } },
};

interface Comparison {
  maxAbs: number;
  maxDiff: number;
}

/** Runs `bytes` in ONNX Runtime on x and compares with the model's eval output. */
async function compare(bytes: Uint8Array, model: TensorModule, x: Tensor): Promise<Comparison> {
  const expected = noGrad(() => model.call(x));
  const want = expected.toArray();
  const session = await ort.InferenceSession.create(bytes, SESSION);
  try {
    const feed = new ort.Tensor('float32', Float32Array.from(x.toArray()), [...x.shape]);
    const out = await session.run({ input: feed });
    const got = out.logits;
    assert.deepEqual([...got.dims], [...expected.shape]);
    const data = got.data as Float32Array;
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[i]));
      maxDiff = Math.max(maxDiff, Math.abs(want[i] - data[i]));
    }
    assert.ok(maxAbs > 0, 'the reference output is all zeros');
    assert.ok(
      maxDiff <= 1e-4 * maxAbs + 1e-5,
      `ONNX Runtime differs from convkit by ${maxDiff} (largest output ${maxAbs})`,
    );
    return { maxAbs, maxDiff };
  } finally {
    await session.release();
    expected.dispose();
  }
}

async function checkModel(model: TensorModule, input: [number, number, number], opset = 13): Promise<Uint8Array> {
  perturb(model);
  model.eval();
  const bytes = exportOnnx(model, { input, opset });
  const backend = model.parameters()[0].backend.name;
  const x = randn([2, ...input], { backend });
  await compare(bytes, model, x);
  x.dispose();
  return bytes;
}

/**
 * [model, input, in the default run]. The default run covers every family and block type that
 * fits the time budget of `npm test` (under a minute on a loaded two-core machine: building the
 * weights is much of it); CONVKIT_TEST_ONNX_ALL=1 runs them all (about two minutes more, and
 * vgg11_bn alone needs 3 GB). Small inputs run on the reference backend, which is faster there than
 * making oneDNN plans for every layer shape (DenseNet has dozens); the 224-pixel ones on the
 * default backend (native when its addon loads), so both backends' models are exported.
 */
const CASES: [name: string, input: [number, number, number], byDefault: boolean][] = [
  ['alexnet', [3, 64, 64], false], // adaptive pooling 1x1 -> 6x6: the exact averaging-matrix path
  ['alexnet_paper', [3, 227, 227], true], // two towers (grouped convs), LRN, no adaptive pooling
  ['googlenet', [3, 32, 32], false], // also below, with transformInput
  ['googlenet_paper', [3, 224, 224], true], // ceil-mode pools, LRN, true 5x5; its 7x7 avgpool needs 224
  ['resnet18', [3, 32, 32], true], // basic blocks, 1x1 projection shortcuts (option B)
  ['resnet50', [3, 32, 32], false], // bottlenecks
  ['resnet50_v1', [3, 32, 32], false],
  ['resnet20_cifar', [3, 32, 32], true], // option A shortcut: strided subsample + channel zero pad
  ['densenet121', [3, 32, 32], false],
  ['densenet_bc_100_cifar', [3, 32, 32], true], // dense layers, transitions (average pooling)
  ['vgg11_bn', [3, 32, 32], false], // a 530 MB file: its classifier alone is 25088x4096
];
/** The backend a case's model is built on: see CASES. */
const backendFor = (input: readonly number[]): string | undefined => (input[1] <= 64 ? 'ref' : undefined);
const ALL = process.env.CONVKIT_TEST_ONNX_ALL === '1';

describe('exportOnnx runs in ONNX Runtime like convkit (batch 2 through the symbolic batch)', () => {
  for (const [name, input, byDefault] of CASES) {
    const skip = !byDefault && !ALL && 'set CONVKIT_TEST_ONNX_ALL=1 to run it';
    it(`${name} at ${input.join('x')}`, { skip }, async () => {
      manualSeed(11);
      const model = buildModel(name, { backend: backendFor(input) });
      await checkModel(model, input);
      model.dispose();
    });
  }

  it('googlenet with transformInput (slice, scalar mul/add, concat on the input)', async () => {
    manualSeed(12);
    const model = withBackend('ref', () => googlenet({ transformInput: true, classes: 10 }));
    const bytes = await checkModel(model, [3, 32, 32]);
    const ops = new Set(decodeOnnxModel(bytes).graph.node.map((n) => n.opType));
    for (const op of ['Slice', 'Mul', 'Add', 'Concat']) assert.ok(ops.has(op), op);
    model.dispose();
  });

  it('pooling edge cases: ceil mode with padding, count_include_pad both ways, uneven adaptive bins', async () => {
    manualSeed(13);
    const model = poolingEdgeCases();
    await checkModel(model, [3, 23, 19]);
  });

  for (const opset of [11, 17, 21]) {
    it(`resnet20_cifar at opset ${opset}`, async () => {
      manualSeed(14);
      const model = buildModel('resnet20_cifar', { backend: 'ref' });
      const bytes = await checkModel(model, [3, 32, 32], opset);
      assert.equal(decodeOnnxModel(bytes).opsetImport[0].version, opset);
      model.dispose();
    });
  }
});

describe('exportOnnx graph and errors', () => {
  it('names the input and output, keeps the batch symbolic and stores weights under state-dict names', () => {
    manualSeed(15);
    const model = buildModel('resnet20_cifar');
    model.train();
    const bytes = exportOnnx(model, { input: [3, 32, 32] });
    assert.equal(model.training, true, 'training flags are restored');
    const m = decodeOnnxModel(bytes);
    assert.equal(m.irVersion, 7);
    assert.equal(m.graph.input[0].name, 'input');
    assert.equal(m.graph.output[0].name, 'logits');
    assert.deepEqual(m.graph.input[0].type.tensorType.shape.dim, [
      { dimParam: 'batch' },
      { dimValue: 3 },
      { dimValue: 32 },
      { dimValue: 32 },
    ]);
    const names = new Set(m.graph.initializer.map((t) => t.name));
    for (const [name] of model.namedParameters()) assert.ok(names.has(name), name);
    assert.ok(!names.has('bn1.num_batches_tracked'), 'unused buffers are pruned');
    const ops = new Set(m.graph.node.map((n) => n.opType));
    assert.deepEqual(
      [...ops].sort(),
      [
        'Add',
        'AveragePool',
        'BatchNormalization',
        'Conv',
        'Gemm',
        'GlobalAveragePool',
        'Pad',
        'Relu',
        'Reshape',
      ].sort(),
    );
  });

  it('a fixed batch with dynamicBatch false', async () => {
    manualSeed(16);
    const model = buildModel('resnet20_cifar').eval();
    const bytes = exportOnnx(model, { input: [3, 32, 32], dynamicBatch: false, batchSize: 2 });
    assert.deepEqual(decodeOnnxModel(bytes).graph.output[0].type.tensorType.shape.dim, [
      { dimValue: 2 },
      { dimValue: 10 },
    ]);
    await compare(bytes, model, randn([2, 3, 32, 32]));
  });

  it('writeOnnx writes the same bytes atomically', () => {
    manualSeed(17);
    const model = buildModel('resnet20_cifar').eval();
    const path = join(dir, 'r20.onnx');
    writeFileSync(path, 'old');
    const size = writeOnnx(path, model, { input: [3, 32, 32] });
    const bytes = readFileSync(path);
    assert.equal(bytes.length, size);
    assert.deepEqual(new Uint8Array(bytes), exportOnnx(model, { input: [3, 32, 32] }));
  });

  it('convkit export writes ONNX and safetensors files that load back', async () => {
    const lines: string[] = [];
    const onnxPath = join(dir, 'cli', 'r20.onnx');
    const stPath = join(dir, 'cli', 'r20.safetensors');
    await runProgram(['node', 'convkit', 'export', 'resnet20_cifar', '--format', 'safetensors', '--out', stPath], (t) =>
      lines.push(t),
    );
    const argv = ['export', 'resnet20_cifar', '--weights', stPath, '--format', 'onnx', '--out', onnxPath];
    await runProgram(['node', 'convkit', ...argv, '--opset', '17', '--json'], (t) => lines.push(t));
    const report = JSON.parse(lines[1]);
    assert.equal(report.weights, stPath);
    assert.deepEqual(report.input, [3, 32, 32]);
    const session = await ort.InferenceSession.create(readFileSync(onnxPath), SESSION);
    const out = await session.run({
      input: new ort.Tensor('float32', new Float32Array(3 * 3 * 32 * 32), [3, 3, 32, 32]),
    });
    assert.deepEqual([...out.logits.dims], [3, 10]);
    await session.release();
  });

  it('refuses what ONNX cannot say exactly, naming the op and layer', () => {
    const lrn = new Sequential(new Conv2d(3, 4, 1), new LocalResponseNorm(4));
    assert.throws(
      () => exportOnnx(lrn, { input: [3, 8, 8] }),
      (e: Error) => {
        assert.ok(e instanceof ArgumentError);
        assert.match(e.message, /localResponseNorm in 1: an even size/);
        return true;
      },
    );
    const model = buildModel('resnet20_cifar');
    assert.throws(() => exportOnnx(model, { input: [3, 32, 32], opset: 10 }), /opset must be an integer from 11/);
    assert.throws(() => exportOnnx(model, { input: [3, 32] as never }), /input must be \[channels, height, width\]/);
  });

  it('passes onnx.checker.check_model (python3-onnx) when it is installed', (t) => {
    // The first python3 that imports onnx (a pyenv or venv python3 may shadow the system one).
    const python = ['python3', '/usr/bin/python3'].find(
      (p) => spawnSync(p, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0,
    );
    if (python === undefined) {
      t.skip('no python3 with the onnx package (apt-get install python3-onnx, or pip install onnx)');
      return;
    }
    manualSeed(18);
    const path = join(dir, 'checked.onnx');
    writeOnnx(path, buildModel('googlenet_paper', { classes: 10 }), { input: [3, 224, 224] });
    const r = spawnSync(
      python,
      ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("ok")', path],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok/);
  });
});
