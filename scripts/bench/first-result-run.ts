/**
 * One side of the bench's time to first result, in a fresh process (scripts/bench/first-result.ts
 * starts it): from a model file on disk to the first batch-1 output in JavaScript.
 *
 *   node --import tsx scripts/bench/first-result-run.ts convkit MODEL WEIGHTS.pth THREADS
 *   node --import tsx scripts/bench/first-result-run.ts ort MODEL MODEL.onnx THREADS
 *
 * convkit: buildModel(MODEL, { init: 'none' }) on the native backend, loadWeights, eval, one pass
 * under noGrad (what `convkit predict` does); ORT: InferenceSession.create and one run. Imports
 * (convkit's modules and addon, onnxruntime-node) come before the clock starts on both sides.
 * Prints one JSON line: the phases in ms, their total, a later pass for the steady speed (convkit's
 * third, ORT's second), and the
 * first logits (the parent checks that both sides computed the same function of the same weights).
 */
import { Generator } from '../../src/core/random.js';
import { fromArray } from '../../src/ops/creation.js';
import { configure } from './convkit-runner.js';

const [side, model, file, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const since = (t0: number): number => performance.now() - t0;
/** The same image on both sides (seeded), made before the clock starts. */
const input = (): Float32Array => {
  const rng = new Generator(0);
  return Float32Array.from({ length: 3 * 224 * 224 }, () => rng.uniform() * 2 - 1);
};

const HEAD = 5; // logits returned for the parent's check

async function convkit(): Promise<Record<string, number | number[]>> {
  const [{ buildModel }, { loadWeights }, { noGrad }, { scope }] = await Promise.all([
    import('../../src/models/registry.js'),
    import('../../src/io/load-weights.js'),
    import('../../src/core/grad-mode.js'),
    import('../../src/core/scope.js'),
  ]);
  configure(threads);
  const x = fromArray(input(), [1, 3, 224, 224], { backend: 'native' });
  const pass = (net: ReturnType<typeof buildModel>): number[] =>
    scope(() => noGrad(() => Array.from(net.call(x).toArray().subarray(0, HEAD))));
  let t0 = performance.now();
  const net = buildModel(model, { backend: 'native', init: 'none' });
  const build = since(t0);
  t0 = performance.now();
  loadWeights(net, file);
  net.eval();
  const load = since(t0);
  t0 = performance.now();
  const logits = pass(net);
  const first = since(t0);
  // Under the default CONVKIT_CONV_ALGORITHM=tune a weight's second pass measures Winograd and
  // transforms the weights it picks (docs/native-backend.md#algorithm-choice): the steady speed
  // is the third pass's.
  pass(net);
  t0 = performance.now();
  pass(net);
  return { build, load, first, total: build + load + first, second: since(t0), logits };
}

async function ort(): Promise<Record<string, number | number[]>> {
  const rt = await import('onnxruntime-node');
  const { ortSessionOptions } = await import('./peers.js');
  let t0 = performance.now();
  const session = await rt.InferenceSession.create(file, ortSessionOptions(threads));
  const create = since(t0);
  const feed = { [session.inputNames[0]]: new rt.Tensor('float32', input(), [1, 3, 224, 224]) };
  const run = async (): Promise<number[]> =>
    Array.from(((await session.run(feed))[session.outputNames[0]].data as Float32Array).subarray(0, HEAD));
  t0 = performance.now();
  const logits = await run();
  const first = since(t0);
  t0 = performance.now();
  await run();
  const second = since(t0);
  await session.release();
  return { create, first, total: create + first, second, logits };
}

if ((side !== 'convkit' && side !== 'ort') || !model || !file || !(Number.isInteger(threads) && threads > 0)) {
  console.error('usage: first-result-run.ts convkit|ort MODEL FILE THREADS');
  process.exit(2);
}
console.log(JSON.stringify(side === 'convkit' ? await convkit() : await ort()));
