/**
 * The machine's float32 FMA peak, the ceiling every GFLOP/s figure of the bench is read against:
 * builds scripts/bench/fma-peak.c once into the bench's cache folder (`cc -O3 -march=native
 * -fopenmp`) and runs it with the bench's thread count.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./fma-peak.c', import.meta.url));

/** GFLOP/s with `threads` threads, or why it could not be measured. */
export function measureFmaPeak(cacheDir: string, threads: number): { gflops: number } | { error: string } {
  mkdirSync(cacheDir, { recursive: true });
  const binary = join(cacheDir, 'fma-peak');
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(SOURCE).mtimeMs) {
    const cc = spawnSync('cc', ['-O3', '-march=native', '-fopenmp', '-o', binary, SOURCE], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0)
      return { error: `cannot build ${SOURCE} with cc: ${(cc.stderr || cc.error?.message || '').trim()}` };
  }
  // OMP_PROC_BIND keeps one thread per core, as a compute kernel runs.
  const run = spawnSync(binary, [String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_PROC_BIND: 'true' },
  });
  const gflops = Number(run.stdout?.trim());
  if (run.status !== 0 || !Number.isFinite(gflops) || gflops <= 0)
    return { error: `${binary} failed: ${(run.stderr || run.error?.message || run.stdout).trim()}` };
  return { gflops };
}
