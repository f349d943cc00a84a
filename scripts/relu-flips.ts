/**
 * Tells a ReLU flipped by rounding from a wrong kernel, where test/backend/native-zoo.test.ts
 * finds a model's gradients apart on the native and reference backends. Both run the test's step
 * (the same weights, eval mode, one backward pass, 2 images); every ReLU's input is recorded, and
 * each ReLU is listed with its elements on opposite sides of zero and the largest difference
 * against the map's largest value. A flip of an element near zero, with differences of float32
 * noise everywhere, is rounding; differences far above the noise from one layer on are a kernel.
 *
 *   npx tsx scripts/relu-flips.ts [model = resnet50] [size = 64]
 *   bash scripts/check-avx2.sh npx tsx scripts/relu-flips.ts resnet50 64     (the AVX2 build)
 */
import { Generator, manualSeed } from '../src/core/random.js';
import { buildModel } from '../src/models/registry.js';
import { ReLU } from '../src/nn/activation.js';
import * as ops from '../src/ops/index.js';

const [model = 'resnet50', sizeArg = '64'] = process.argv.slice(2);
const size = Number(sizeArg);
if (!Number.isInteger(size) || size < 32) {
  console.error(`relu-flips: size must be an integer of at least 32, got '${sizeArg}'`);
  process.exit(1);
}

/** Every ReLU input of one training step on `backend`, and the parameters' gradients. */
function step(backend: string): { inputs: Float32Array[]; gradients: Map<string, Float32Array> } {
  manualSeed(11); // the test's weights
  const net = buildModel(model, { backend });
  net.eval();
  const inputs: Float32Array[] = [];
  const forward = ReLU.prototype.forward;
  ReLU.prototype.forward = function (x) {
    inputs.push(Float32Array.from(x.toArray() as ArrayLike<number>));
    return forward.call(this, x);
  };
  const g = new Generator(6);
  const shape = [2, 3, size, size];
  const x = ops.fromArray(
    Float32Array.from({ length: 6 * size * size }, () => g.normal()),
    shape,
    { backend },
  );
  try {
    ops.crossEntropy(net.call(x), Int32Array.of(0, 3)).backward();
  } finally {
    ReLU.prototype.forward = forward;
  }
  const gradients = new Map(
    [...net.namedParameters()].map(([k, p]) => [k, Float32Array.from(p.grad?.toArray() ?? [])]),
  );
  return { inputs, gradients };
}

try {
  const ref = step('ref');
  const native = step('native');
  ref.inputs.forEach((r, i) => {
    const n = native.inputs[i];
    let [scale, flips, largest, nearest] = [0, 0, 0, 0];
    for (const v of r) scale = Math.max(scale, Math.abs(v));
    r.forEach((v, j) => {
      largest = Math.max(largest, Math.abs(v - n[j]));
      if (v > 0 !== n[j] > 0) [flips, nearest] = [flips + 1, Math.max(nearest, Math.abs(v), Math.abs(n[j]))];
    });
    const flipped = flips === 0 ? '' : `, ${flips} flipped (largest |value| ${nearest.toExponential(2)})`;
    console.log(
      `relu ${i} (${r.length} elements): difference ${(largest / scale).toExponential(2)} of the largest${flipped}`,
    );
  });
  const relative = [...ref.gradients].map(([k, r]) => {
    const n = native.gradients.get(k) ?? new Float32Array(r.length);
    const [d, s] = r.reduce(([d, s], v, j) => [d + (v - n[j]) ** 2, s + v * v], [0, 0]);
    return Math.sqrt(d / s);
  });
  relative.sort((a, b) => a - b);
  console.log(
    `gradients: median relative L2 ${relative[relative.length >> 1].toExponential(2)} over ${relative.length}`,
  );
} catch (e) {
  console.error(`relu-flips: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
