/**
 * ONNX import checked against independent references:
 * - convkit's own exports (io/onnx-export.ts, checked in ONNX Runtime by onnx-export.test.ts) come
 *   back as a graph module with the model's outputs, and as the zoo model's state dict
 *   (loadWeights, convkit convert) with bit-identical outputs; the graph module trains with the
 *   same loss, gradients and running statistics as the zoo model;
 * - files written by torch.onnx.export (scripts/torch-onnx-files.py, run here with Debian's
 *   PyTorch) give PyTorch's outputs;
 * - hostile files are refused with a DataFormatError naming the file and the node.
 *
 * Tolerance, per element: |convkit - reference| <= 1e-4 * max|reference| + 1e-5, as in
 * onnx-export.test.ts: both sides compute in float32 in different orders (the zoo model fuses batch
 * norm into the convolutions, torch.onnx.export folds it into the weights).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { runEval } from '../../src/cli/eval.js';
import { runProgram } from '../../src/cli/program.js';
import { runTrain } from '../../src/cli/train.js';
import { DataFormatError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { loadWeights } from '../../src/io/load-weights.js';
import { exportOnnx, writeOnnx } from '../../src/io/onnx-export.js';
import { importOnnx } from '../../src/io/onnx-import.js';
import { ATTR, encodeOnnxModel, ONNX_FLOAT, type OnnxModel, type OnnxNode } from '../../src/io/onnx-proto.js';
import { DenseNet } from '../../src/models/densenet.js';
import { googlenet } from '../../src/models/googlenet.js';
import { buildModel } from '../../src/models/registry.js';
import type { TensorModule } from '../../src/nn/module.js';
import { fromArray, randn } from '../../src/ops/creation.js';
import { trainOptions, writeTinyIdx } from '../cli/train-helpers.js';
import { perturb, poolingEdgeCases } from '../helpers/onnx-models.js';
import { crossEntropy } from '../../src/ops/cross-entropy.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-onnx-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: lengths`);
  let maxAbs = 0;
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(want[i]));
    maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
  }
  assert.ok(maxAbs > 0, `${what}: the reference is all zeros`);
  assert.ok(maxDiff <= 1e-4 * maxAbs + 1e-5, `${what}: differs by ${maxDiff} (largest value ${maxAbs})`);
}

const evalOut = (m: TensorModule, x: Tensor): Float32Array => Float32Array.from(noGrad(() => m.call(x)).toArray());

describe('convkit export -> import', () => {
  it('resnet20_cifar: same outputs as a graph, the same state dict into the zoo model, and the same training step', () => {
    manualSeed(21);
    withBackend('ref', () => {
      const model = buildModel('resnet20_cifar');
      perturb(model);
      model.eval();
      const path = join(dir, 'r20.onnx');
      writeOnnx(path, model, { input: [3, 32, 32] });
      const x = randn([2, 3, 32, 32]);
      const want = evalOut(model, x);
      const graph = importOnnx(path);
      assert.equal(graph.training, false, 'imported in eval mode');
      assertClose(evalOut(graph, x), want, 'graph module');
      assert.deepEqual(
        [...graph.stateDict().keys()].sort(),
        [...model.stateDict().keys()].filter((k) => !k.endsWith('num_batches_tracked')).sort(),
      );

      const back = buildModel('resnet20_cifar').eval();
      const r = loadWeights(back, path);
      assert.equal(r.format, 'onnx');
      assert.deepEqual([r.missingKeys, r.unexpectedKeys], [[], []]);
      assert.deepEqual(evalOut(back, x), want, 'the zoo model with the weights read back');

      // One training step: batch statistics, running-statistic updates and gradients agree.
      model.train();
      graph.train();
      const labels = [1, 7];
      const lossA = crossEntropy(model.call(x), labels);
      const lossB = crossEntropy(graph.call(x), labels);
      assertClose([lossB.item()], [lossA.item()], 'training loss');
      lossA.backward();
      lossB.backward();
      const ours = new Map(graph.namedParameters());
      for (const key of ['conv1.weight', 'layer3.2.bn2.weight', 'fc.weight', 'fc.bias']) {
        const p = model.namedParameters().find(([k]) => k === key)?.[1] as Tensor;
        assertClose((ours.get(key) as Tensor).grad?.toArray() ?? [], p.grad?.toArray() ?? [], `gradient of ${key}`);
      }
      const stats = new Map(graph.namedBuffers());
      const mean = model.namedBuffers().find(([k]) => k === 'bn1.running_mean')?.[1] as Tensor;
      assertClose((stats.get('bn1.running_mean') as Tensor).toArray(), mean.toArray(), 'updated running mean');
    });
  });

  it('pooling edge cases, LRN, uneven adaptive bins; googlenet with transformInput; a small DenseNet', () => {
    manualSeed(22);
    withBackend('ref', () => {
      const pools = poolingEdgeCases();
      const inception = googlenet({ transformInput: true, classes: 10 });
      // torchvision's DenseNet layout (stem, dense layers, a transition) at a small width.
      const dense = new DenseNet({ growthRate: 8, blockLayers: [2, 2], initFeatures: 16, classes: 10 });
      for (const [model, input] of [
        [pools, [3, 23, 19]],
        [inception, [3, 32, 32]],
        [dense, [3, 32, 32]],
      ] as [TensorModule, [number, number, number]][]) {
        perturb(model);
        model.eval();
        const x = randn([2, ...input]);
        assertClose(evalOut(importOnnx(exportOnnx(model, { input, opset: 17 })), x), evalOut(model, x), model.typeName);
      }
    });
  });

  it('convkit inspect lists the ops and fits; convkit convert writes the state dict as safetensors', async () => {
    manualSeed(23);
    const model = buildModel('resnet20_cifar', { backend: 'ref' }).eval();
    perturb(model);
    const path = join(dir, 'cli.onnx');
    writeOnnx(path, model, { input: [3, 32, 32] });
    const lines: string[] = [];
    await runProgram(['node', 'convkit', 'inspect', path], (t) => lines.push(t));
    assert.match(lines[0], /: onnx/);
    assert.match(lines[0], /ops: BatchNormalization 19, Conv 19, Relu 19, Add 9, /);
    assert.match(lines[0], /fits: .*resnet20_cifar/);
    const out = join(dir, 'cli.safetensors');
    await runProgram(['node', 'convkit', 'convert', path, out], (t) => lines.push(t));
    assert.match(lines[1], /onnx -> safetensors/);
    const back = buildModel('resnet20_cifar', { backend: 'ref' }).eval();
    loadWeights(back, out);
    const x = randn([1, 3, 32, 32], { backend: 'ref' });
    assert.deepEqual(evalOut(back, x), evalOut(model, x));
  });
  it('convkit eval --weights FILE.onnx: a run exported as ONNX evaluates as the run does', async () => {
    const data = writeTinyIdx({ train: 30, test: 12 });
    const run = join(dir, 'run');
    await runTrain('tiny_cnn', trainOptions(data, run, { epochs: 1 }), { out: () => {} });
    const path = join(dir, 'run.onnx');
    await runProgram(['node', 'convkit', 'export', run, '--format', 'onnx', '--out', path], () => {});
    const opts = { split: 'test', batchSize: 12, format: 'json' } as const;
    const byRun = await runEval(run, opts);
    const byOnnx = await runEval('tiny_cnn', { ...opts, weights: path, data: `idx:${data}` });
    assert.deepEqual(byOnnx.confusion, byRun.confusion);
    assert.equal(byOnnx.loss, byRun.loss);
  });
});

const python = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf-8' });
const noTorch =
  python.status === 0
    ? false
    : `/usr/bin/python3 cannot import torch and torchvision (${(python.error?.message ?? python.stderr.trim().split('\n').pop()) || 'unknown reason'}), so no torch.onnx.export files can be made`;

describe('files of torch.onnx.export (opsets 11, 13, 17)', { skip: noTorch }, () => {
  const torchDir = join(dir, 'torch');
  const readF32 = (path: string): Float32Array => {
    const b = readFileSync(path);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  it('resnet, googlenet (input transform), densenet, vgg (x.view flatten) and alexnet give PyTorch outputs', () => {
    const run = spawnSync('/usr/bin/python3', ['scripts/torch-onnx-files.py', torchDir], { encoding: 'utf-8' });
    assert.equal(run.status, 0, run.stderr);
    const manifest = JSON.parse(readFileSync(join(torchDir, 'manifest.json'), 'utf-8')) as [string, number, number[]][];
    assert.deepEqual([...new Set(manifest.map((m) => m[1]))].sort(), [11, 13, 17]);
    for (const [name, opset, shape] of manifest) {
      const graph = importOnnx(join(torchDir, `${name}.onnx`));
      assert.equal(graph.opset, opset);
      const x = fromArray(readF32(join(torchDir, `${name}.x.f32`)), shape);
      assertClose(evalOut(graph, x), readF32(join(torchDir, `${name}.y.f32`)), `${name} (opset ${opset})`);
      graph.dispose();
    }
    // Folded batch norm renames weights: loading into the zoo model says to use the graph instead.
    assert.throws(
      () => loadWeights(buildModel('resnet18', { backend: 'meta' }), join(torchDir, 'resnet.onnx')),
      /torch\.onnx\.export does when it folds batch norm/,
    );
  });
});

describe('hostile ONNX files', () => {
  const tensor = (name: string, dims: number[]) => ({
    name,
    dims,
    dataType: ONNX_FLOAT,
    rawData: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)),
  });
  const node = (opType: string, name: string, input: string[], output: string[]): OnnxNode => ({
    opType,
    name,
    input,
    output,
    attribute: opType === 'Conv' ? [{ name: 'kernel_shape', type: ATTR.INTS, ints: [3, 3] }] : [],
  });
  /** A one-input model: input [1, 3, 8, 8] -> nodes -> `y`, with the given initializers. */
  function model(nodes: OnnxNode[], initializer = [tensor('w', [4, 3, 3, 3])]): OnnxModel {
    const info = (name: string, dims: number[]) => ({
      name,
      type: { tensorType: { elemType: ONNX_FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
    });
    return {
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      producerName: 'test',
      producerVersion: '0',
      graph: {
        node: nodes,
        name: 'g',
        initializer,
        input: [info('x', [1, 3, 8, 8])],
        output: [info('y', [1, 4, 6, 6])],
      },
    };
  }
  const write = (name: string, bytes: Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const refuses = (path: string, pattern: RegExp): void => {
    assert.throws(
      () => importOnnx(path),
      (e: Error) => {
        assert.ok(e instanceof DataFormatError, `${e.name}: ${e.message}`);
        assert.ok(e.message.startsWith(path), e.message);
        assert.match(e.message, pattern);
        return true;
      },
    );
  };

  it('a well-formed control file imports; a name that cannot nest is registered flat', () => {
    const path = write('ok.onnx', encodeOnnxModel(model([node('Conv', 'conv', ['x', 'w'], ['y'])])));
    const x = randn([1, 3, 8, 8], { backend: 'ref' });
    assert.deepEqual(noGrad(() => importOnnx(path, { backend: 'ref' }).call(x)).shape, [1, 4, 6, 6]);
    // 'w' is a parameter, so 'w.b' cannot live in a holder named 'w'.
    const clash = encodeOnnxModel(
      model([node('Conv', 'conv', ['x', 'w', 'w.b'], ['y'])], [tensor('w', [4, 3, 3, 3]), tensor('w.b', [4])]),
    );
    assert.deepEqual([...importOnnx(clash, { backend: 'ref' }).stateDict().keys()], ['w', 'w_b']);
  });

  it('an unknown op, naming the op and the node', () => {
    const path = write(
      'unknown.onnx',
      encodeOnnxModel(model([node('Conv', 'conv', ['x', 'w'], ['c']), node('Softsign', 'odd', ['c'], ['y'])])),
    );
    refuses(path, /node 'odd' \(Softsign\): op 'Softsign' is not supported by convkit's ONNX import/);
  });

  it('a cycle, naming its nodes', () => {
    const nodes = [
      node('Add', 'a', ['x', 'c'], ['b']),
      node('Relu', 'r', ['b'], ['c']),
      node('Relu', 'out', ['c'], ['y']),
    ];
    refuses(
      write('cycle.onnx', encodeOnnxModel(model(nodes, []))),
      /cycle: 3 nodes wait on each other \(node 'a' \(Add\), node 'r' \(Relu\)/,
    );
  });

  it('a missing initializer, naming the value and the node', () => {
    const path = write('missing.onnx', encodeOnnxModel(model([node('Conv', 'conv', ['x', 'w', 'bias'], ['y'])])));
    refuses(path, /node 'conv' \(Conv\) reads 'bias', which is no initializer, graph input or node output/);
  });

  it('shapes that disagree, naming the node, and an initializer whose data does not fill its dims', () => {
    const wrong = write(
      'shapes.onnx',
      encodeOnnxModel(model([node('Conv', 'conv', ['x', 'w'], ['y'])], [tensor('w', [4, 5, 3, 3])])),
    );
    refuses(
      wrong,
      /node 'conv' \(Conv\) reading x \[1, 3, 8, 8\], w \[4, 5, 3, 3\]: conv2d \(conv\): input has 3 channels, weight expects 5/,
    );
    const short = { ...tensor('w', [4, 3, 3, 3]), rawData: new Uint8Array(12) };
    const path = write('short.onnx', encodeOnnxModel(model([node('Conv', 'conv', ['x', 'w'], ['y'])], [short])));
    refuses(path, /initializer 'w' has dims \[4, 3, 3, 3\] \(108 values\) but holds 12 bytes/);
  });

  it('a truncated file', () => {
    const bytes = exportOnnx(buildModel('resnet20_cifar', { backend: 'ref' }), { input: [3, 32, 32] });
    refuses(
      write('truncated.onnx', bytes.subarray(0, Math.floor(bytes.length / 2))),
      /not a readable ONNX model \(protobuf: .*\); truncated or not ONNX/,
    );
  });
});
