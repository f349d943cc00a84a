/**
 * Golden test: every torchvision-layout model of the zoo gives torchvision 0.14's logits, on the
 * reference and the native backend (each by name), for the same weights and input. The fixture
 * (test/golden/zoo-logits.json, written by scripts/golden/zoo_logits.py) holds only the logits:
 * both sides compute the weights and the input from a formula (test/helpers/formula-weights.ts),
 * bit for bit the same float32 values. The models have 10 classes and small inputs, batch 2:
 * AlexNet (which needs 63x63 or more), GoogLeNet, resnet18/34/50 and densenet121/169 at 64x64;
 * VGG, resnet101/152 and densenet161/201 at 32x32 (their heads pool adaptively). GoogLeNet runs
 * without torchvision's transform_input, which torchvision 0.14 turns on only when it loads
 * ImageNet weights. Which model runs on which backend: see BOTH below.
 *
 * Tolerance per logit: |convkit - torch| <= 2e-5 * max|torch logits| + 2e-5 * |torch|. Both sides
 * compute in float32 and add in different orders (im2col + gemm vs oneDNN's direct convs, blocked
 * channel sums), so each of the 8-150 layers rounds differently at about 1e-7 relative; the
 * differences seen (printed per model) are at most 4.3e-6 of the largest logit (vgg16 on ref), so
 * the bound leaves a factor of about 10. A wiring error (a missing ReLU, a missing shortcut,
 * concatenation in another order) moves the logits by 1e-2 to 1 of their scale.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noGrad } from '../../src/core/grad-mode.js';
import { buildModel, MODELS } from '../../src/models/registry.js';
import { fromArray } from '../../src/ops/creation.js';
import { nativeSkipReason } from '../backend/native-helpers.js';
import {
  formulaMap,
  formulaValues,
  INPUT_TENSOR_INDEX,
  loadFormulaWeights,
  buildWithoutInit,
} from '../helpers/formula-weights.js';
import { type GoldenTensor, regenerateHint } from '../helpers/golden.js';

interface LogitsCase {
  name: string;
  torchvision: string;
  input: [number, number, number, number];
  gain: number;
  probe: { input: number[]; key: string; weight: number[] };
  logits: GoldenTensor;
}

const GENERATOR = 'scripts/golden/zoo_logits.py';
const HINT = regenerateHint(`/usr/bin/python3 ${GENERATOR}`);
const CLASSES = 10;
/** Per logit: |a - b| <= ATOL_OF_MAX * max|b| + RTOL * |b| (see the header). */
const ATOL_OF_MAX = 2e-5;
const RTOL = 2e-5;

function loadCases(): LogitsCase[] {
  const path = fileURLToPath(new URL('../golden/zoo-logits.json', import.meta.url));
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { cases?: LogitsCase[] };
  if (!Array.isArray(raw.cases)) throw new Error(`${path}: expected {generator, cases: [...]}; ${HINT}`);
  return raw.cases;
}

const cases = loadCases();
const nativeSkip = nativeSkipReason('zoo-logits');

/**
 * Which backends run which model, to keep the file near a minute of CPU (every model on both costs
 * about 130 s of CPU here: the VGGs make and load 120 M classifier weights, and the native backend
 * plans and JIT-compiles every conv shape on its first call). Wiring is model code, the same on
 * both backends, so one backend per model checks it; the kernels of both backends are checked by
 * the models of BOTH, one or two per family (plain and batch-norm VGG, basic and bottleneck
 * ResNet blocks). Without the native backend every model runs on ref; CONVKIT_ZOO_LOGITS=all runs
 * every model on both.
 */
const BOTH = new Set(['alexnet', 'vgg11', 'vgg11_bn', 'googlenet', 'resnet18', 'resnet50', 'densenet121']);
/** Deeper repeats of resnet18/50 and densenet121's blocks: cheaper on ref's first call than on native's. */
const REF_ONLY = new Set(['resnet34', 'resnet101', 'resnet152', 'densenet161', 'densenet169', 'densenet201']);
/** The other VGGs: 2-4 s of CPU each on either backend; their ref kernels are vgg11(_bn)'s. */
const NATIVE_ONLY = new Set(['vgg13', 'vgg13_bn', 'vgg16', 'vgg16_bn', 'vgg19', 'vgg19_bn']);

/** The backends a model's logits are checked on. */
function backendsOf(name: string): ('ref' | 'native')[] {
  if (process.env.CONVKIT_ZOO_LOGITS === 'all' || BOTH.has(name)) return ['ref', 'native'];
  if (nativeSkip !== false) return ['ref'];
  if (REF_ONLY.has(name)) return ['ref'];
  if (NATIVE_ONLY.has(name)) return ['native'];
  return ['ref', 'native'];
}

/** The formula input of a case. */
function inputValues(c: LogitsCase): Float32Array {
  return formulaValues(
    INPUT_TENSOR_INDEX,
    c.input.reduce((a, b) => a * b, 1),
  );
}

function assertLogitsClose(name: string, backend: string, actual: ArrayLike<number>, expected: GoldenTensor): number {
  assert.equal(actual.length, expected.values.length, `${name} on ${backend}: number of logits`);
  const scale = expected.values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const want = expected.values[i];
    const diff = Math.abs(actual[i] - want);
    const allowed = ATOL_OF_MAX * scale + RTOL * Math.abs(want);
    if (!(diff <= allowed)) {
      const [image, cls] = [Math.floor(i / CLASSES), i % CLASSES];
      assert.fail(
        `${name} on ${backend}: logit [${image}, ${cls}] is ${actual[i]}, torchvision's ${want} (|diff| ${diff.toExponential(2)}, allowed ${allowed.toExponential(2)}, largest |logit| ${scale.toPrecision(3)}). ${HINT}`,
      );
    }
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

function runCase(c: LogitsCase, backend: string): void {
  const cpu = process.cpuUsage();
  const model = buildWithoutInit(backend, () => buildModel(c.name, { backend, classes: CLASSES }));
  loadFormulaWeights(model, c.gain, backend);
  model.eval();
  const x = fromArray(inputValues(c), c.input, { backend });
  const y = noGrad(() => model.call(x));
  assert.deepEqual(y.shape, [c.input[0], CLASSES], `${c.name}: logits shape`);
  const worst = assertLogitsClose(c.name, backend, y.toArray(), c.logits);
  const used = process.cpuUsage(cpu);
  console.log(
    `# ${c.name} on ${backend}: largest |diff| ${worst.toExponential(2)} of the largest |logit|; ${((used.user + used.system) / 1e6).toFixed(1)} s of CPU`,
  );
  x.dispose();
  y.dispose();
  model.dispose();
}

describe("zoo logits equal torchvision's on formula weights", () => {
  it('the fixture covers every torchvision-layout model of the registry', () => {
    const torchvisionLayout = MODELS.filter((e) => e.layout === 'torchvision').map((e) => e.name);
    const inFixture = new Set(cases.map((c) => c.name));
    assert.deepEqual(
      torchvisionLayout.filter((n) => !inFixture.has(n)),
      [],
      `models without golden logits: add them to MODELS in ${GENERATOR} and run it`,
    );
    const split = [...BOTH, ...REF_ONLY, ...NATIVE_ONLY];
    assert.deepEqual(
      cases.map((c) => c.name).filter((n) => !split.includes(n)),
      [],
      'models in none of BOTH, REF_ONLY and NATIVE_ONLY (they run on both backends; place them)',
    );
    const families = new Set(MODELS.filter((e) => inFixture.has(e.name)).map((e) => e.family));
    for (const family of families)
      assert.ok(
        MODELS.some((e) => e.family === family && BOTH.has(e.name)),
        `family ${family} has no model checked on both backends`,
      );
  });

  it("the formula's weights and input are the generator's, bit for bit", () => {
    for (const c of cases) {
      const input = inputValues(c);
      assert.deepEqual(
        [...input.slice(0, 3), input[input.length - 1]],
        [...Float32Array.from(c.probe.input)],
        `${c.name}: formula input`,
      );
      const model = buildModel(c.name, { backend: 'meta', classes: CLASSES });
      const [key, t] = [...model.stateDict()][0];
      assert.equal(key, c.probe.key, `${c.name}: first state-dict key`);
      const w = formulaValues(0, t.size, formulaMap(key, t.shape, c.gain));
      assert.deepEqual(
        [...w.slice(0, 3), w[w.length - 1]],
        [...Float32Array.from(c.probe.weight)],
        `${c.name}: formula ${key}`,
      );
    }
  });

  for (const backend of ['ref', 'native'] as const) {
    describe(`on the ${backend} backend`, () => {
      for (const c of cases.filter((k) => backendsOf(k.name).includes(backend))) {
        const skip = backend === 'native' ? nativeSkip : false;
        it(`${c.name} at ${c.input[2]}x${c.input[3]}, batch ${c.input[0]}`, { skip }, () => runCase(c, backend));
      }
    });
  }
});
