/**
 * Single 3x3 convs (bias and ReLU fused, inference) with each CONVKIT_CONV_ALGORITHM: direct,
 * winograd, and tune (with the choice it made), best of 7 runs after 2 warm-ups, as a markdown
 * table (docs/benchmarks.md#winograd-against-direct-single-convs). Seconds, not minutes:
 * `npx tsx scripts/bench/conv-algorithms.ts [threads]`. Tune measures in this process only
 * (CONVKIT_TUNING_CACHE=off), so each run measures afresh.
 */
import { takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { setThreads } from '../../src/backend/registry.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import * as ops from '../../src/ops/index.js';

/** [batch, channels in and out, map size]: ResNet and VGG stages at batch 1 and 8. */
const SHAPES: [number, number, number][] = [
  [1, 64, 56],
  [1, 128, 28],
  [1, 256, 14],
  [1, 512, 7],
  [8, 64, 56],
  [8, 256, 14],
];
const ALGORITHMS = ['direct', 'winograd', 'tune'] as const;

/** Best ms of 7 runs (conv plus the wait for the queue), and what the last run ran. */
function time(batch: number, channels: number, size: number): { ms: number; algorithm: string } {
  return noGrad(() => {
    const backend = 'native';
    const x = ops.randn([batch, channels, size, size], { backend });
    const w = ops.randn([channels, channels, 3, 3], { backend });
    const b = ops.randn([channels], { backend });
    const rt = nativeRuntime();
    const once = (): void => {
      ops.conv2d(x, w, b, { padding: 1 }, { relu: true }).dispose();
      rt.flushSync();
    };
    once();
    once();
    let ms = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      once();
      ms = Math.min(ms, performance.now() - t0);
    }
    [x, w, b].forEach((t) => t.dispose());
    return { ms, algorithm: takeConvAlgorithmNote(rt)?.algorithm ?? '?' };
  });
}

setThreads(Number(process.argv[2] ?? 2));
process.env.CONVKIT_TUNING_CACHE = 'off';
console.log(`| batch x channels x map | ${ALGORITHMS.join(' | ')} |`);
console.log(`|---|${ALGORITHMS.map(() => '--:').join('|')}|`);
for (const [batch, channels, size] of SHAPES) {
  const cells = ALGORITHMS.map((algorithm) => {
    process.env.CONVKIT_CONV_ALGORITHM = algorithm;
    resetSettings();
    const r = time(batch, channels, size);
    return algorithm === 'tune' ? `${r.algorithm}, ${r.ms.toFixed(1)} ms` : `${r.ms.toFixed(1)} ms`;
  });
  console.log(`| ${batch}x${channels}x${size}x${size} | ${cells.join(' | ')} |`);
}
