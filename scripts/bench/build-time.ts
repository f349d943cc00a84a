/**
 * How long `buildModel` takes, with random initialisation and without (`init: 'none'`, what the
 * CLI uses before loading weights): `npx tsx scripts/bench/build-time.ts vgg16 resnet50`.
 * Each figure is the median of 3 builds on the current backend (CONVKIT_BACKEND), after one
 * build that warms the code up. docs/benchmarks.md keeps the figures.
 */
import { getBackend } from '../../src/backend/registry.js';
import { buildModel, type BuildOptions } from '../../src/models/registry.js';
import type { TensorModule } from '../../src/nn/module.js';

const ROUNDS = 3;
const names = process.argv.slice(2);
if (names.length === 0) {
  console.error('usage: npx tsx scripts/bench/build-time.ts MODEL...');
  process.exit(2);
}

function dispose(model: TensorModule): void {
  for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median wall and CPU milliseconds of a build (CPU: all the process's threads, so a busy machine inflates only the wall time). */
function timeBuild(name: string, opts: BuildOptions): { wall: number; cpu: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    const usage = process.cpuUsage();
    const model = buildModel(name, opts);
    const used = process.cpuUsage(usage);
    wall.push(performance.now() - started);
    cpu.push((used.user + used.system) / 1000);
    dispose(model);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

dispose(buildModel('resnet18', { init: 'none' }));
dispose(buildModel('resnet18'));
console.log(`backend ${getBackend().name}, median of ${ROUNDS} builds`);
console.log('| model | random init: wall ms | CPU ms | init none: wall ms | CPU ms |\n|:--|--:|--:|--:|--:|');
for (const name of names) {
  const random = timeBuild(name, {});
  const none = timeBuild(name, { init: 'none' });
  console.log(
    `| ${name} | ${random.wall.toFixed(0)} | ${random.cpu.toFixed(0)} | ${none.wall.toFixed(0)} | ${none.cpu.toFixed(0)} |`,
  );
}
