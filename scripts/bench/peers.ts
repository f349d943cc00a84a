/**
 * The peers of `npm run bench`: ONNX Runtime for Node (in this process, on models PyTorch exports
 * to ONNX) and PyTorch (a long-lived /usr/bin/python3 worker, so torch is imported once, on
 * OpenBLAS, in each of its configurations). All get the same thread count as convkit and the same
 * timing policy, as interleaved contenders.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { timedRuns, type Contender, type Policy } from './timing.js';

/** Debian's interpreter, where python3-torch lives (the `python3` on PATH may be a pyenv without torch). */
export const PYTHON = '/usr/bin/python3';
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const INSTALL_TORCH = "install Debian's PyTorch with `sudo apt-get install python3-torch python3-torchvision`";
/** Debian's libopenblas0-pthread (scripts/bench/ensure-openblas.sh installs it). */
export const OPENBLAS_DIR = '/usr/lib/x86_64-linux-gnu/openblas-pthread';

/**
 * glibc's malloc as a user who tunes PyTorch on a CPU sets it (PyTorch's CPU performance guide
 * swaps the allocator for the same reason): blocks up to 32 MiB (the largest threshold glibc
 * takes) come from the heap instead of a fresh mmap each, and freed memory is kept, not trimmed.
 * Without it a CIFAR ResNet-20 step (batch 128) took 130 to 400 ms from one PyTorch process to
 * the next on the Zen 5 host, as glibc's adaptive mmap threshold happened to stand: every fresh
 * mapping is page-faulted in again, and faults are dear under a hypervisor. With it, 133-149 ms
 * in every process. jemalloc (LD_PRELOAD) was slower still there (900 ms and more).
 */
export const PEER_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824';

/**
 * The environment of a PyTorch peer process: malloc tuned as above, and OpenBLAS first on its
 * library path when installed, so its libblas.so.3 is OpenBLAS's with `threads` threads while
 * the system's (and every other PyTorch caller's, the golden scripts') stays netlib's. The peer
 * reports what it really loaded.
 */
export function peerEnv(threads: number, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const tunables = [env.GLIBC_TUNABLES, PEER_MALLOC_TUNABLES].filter(Boolean).join(':');
  const tuned = { ...env, GLIBC_TUNABLES: tunables };
  if (!existsSync(join(OPENBLAS_DIR, 'libblas.so.3'))) return tuned;
  const path = [OPENBLAS_DIR, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { ...tuned, LD_LIBRARY_PATH: path, OPENBLAS_NUM_THREADS: String(threads) };
}

/** Exports the models still missing from `dir` as ONNX files and .pth weights; returns an error line or null. */
export function exportOnnx(dir: string, models: readonly string[]): string | null {
  const missing = models.filter((m) => !existsSync(join(dir, `${m}.onnx`)) || !existsSync(join(dir, `${m}.pth`)));
  if (missing.length === 0) return null;
  process.stderr.write(`exporting ${missing.join(', ')} to ONNX with PyTorch (once; cached in ${dir})...\n`);
  const r = spawnSync(PYTHON, [here('./export_onnx.py'), dir, ...missing], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error)
    return `the ONNX files are exported by PyTorch, and ${PYTHON} cannot run (${r.error.message}); ${INSTALL_TORCH}`;
  if (r.status === 3)
    return `the ONNX files are exported by PyTorch, which is not installed for ${PYTHON}; ${INSTALL_TORCH}`;
  return r.status === 0 ? null : `the ONNX export failed (exit ${r.status ?? r.signal}); see above`;
}

type Ort = typeof import('onnxruntime-node');
let ort: Ort | null = null;

/** Loads onnxruntime-node, or says why it cannot. */
export async function loadOrt(): Promise<{ version: string } | { error: string }> {
  try {
    ort = await import('onnxruntime-node');
    return { version: ort.env.versions.common ?? '?' };
  } catch (err) {
    return {
      error: `onnxruntime-node does not load (${(err as Error).message.split('\n')[0]}); run \`npm run setup\``,
    };
  }
}

/** How the bench opens every ONNX Runtime session: the CPU provider, `threads` intra-op threads, all graph optimisations. */
export function ortSessionOptions(threads: number): import('onnxruntime-node').InferenceSession.SessionOptions {
  // ORT's pool threads spin while idle after a run, taking the cores from whatever runs next in
  // this process (convkit's ResNet-18 batch-1 pass went from 27 to 45 ms, even 2 s after an ORT
  // run). force_spinning_stop ends the spinning when Run() returns; within a run ORT spins as
  // by default, and its own figures did not change.
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { force_spinning_stop: '1' } },
  };
}

/**
 * An ONNX model on ORT's CPU provider with `threads` intra-op threads; workload i is batch
 * `batches[i]` (one session serves them all: the export has a dynamic batch axis).
 */
export function ortContender(
  label: string,
  file: string,
  batches: readonly number[],
  threads: number,
  policy: Policy,
): Contender {
  const rt = ort;
  if (!rt) throw new Error('loadOrt() first');
  let session: Promise<import('onnxruntime-node').InferenceSession> | null = null;
  const feeds = new Map<number, Record<string, import('onnxruntime-node').Tensor>>();
  const options = ortSessionOptions(threads);
  const open = (): Promise<import('onnxruntime-node').InferenceSession> =>
    (session ??= rt.InferenceSession.create(file, options));
  return {
    label,
    async round(index, warmUp) {
      const s = await open();
      const batch = batches[index];
      if (!feeds.has(index)) {
        const data = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => Math.random() * 2 - 1);
        feeds.set(index, { [s.inputNames[0]]: new rt.Tensor('float32', data, [batch, 3, 224, 224]) });
      }
      const feed = feeds.get(index) as Record<string, import('onnxruntime-node').Tensor>;
      return timedRuns(async () => void (await s.run(feed)), policy, warmUp);
    },
    async close() {
      if (session) await (await session).release();
    },
  };
}

export interface TorchInfo {
  torch: string;
  threads: number;
  onednn: string | null;
  /** The BLAS library the peer process mapped (read from its /proc/self/maps). */
  blas: string;
  /** The malloc settings the peer process runs with (its GLIBC_TUNABLES), or null. */
  malloc: string | null;
  /** The configurations it runs: `infer` for inference, `train` for training steps. */
  configs: { infer: string[]; train: string[] };
}

/**
 * A process's CPU time in clock ticks (user + system, fields 14 and 15) from its /proc/PID/stat
 * line; the name in parentheses may hold spaces and parentheses, so fields count from the last ')'.
 */
export function cpuTicksOf(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The PyTorch worker (scripts/bench/torch_peer.py): one JSON request and answer per line. */
export class TorchPeer {
  private readonly waiting: ((line: string | null) => void)[] = [];
  private exitCode: number | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.stdin.on('error', () => {}); // a worker that died is reported through 'exit'
    child.on('exit', (code) => {
      this.exitCode = code ?? -1;
      for (const resolve of this.waiting.splice(0)) resolve(null);
    });
  }

  /** Starts the worker and asks for its versions; an error line when PyTorch is not there. */
  static async start(threads: number): Promise<{ peer: TorchPeer; info: TorchInfo } | { error: string }> {
    const child = spawn(PYTHON, [here('./torch_peer.py'), String(threads)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: peerEnv(threads),
    });
    const failed = new Promise<string>((resolve) => child.on('error', (err) => resolve(err.message)));
    const peer = new TorchPeer(child);
    const answer = await Promise.race([peer.request({ kind: 'info' }), failed.then((message) => ({ error: message }))]);
    if ('error' in answer) {
      peer.stop();
      const why =
        peer.exitCode === 3
          ? `PyTorch is not installed for ${PYTHON}`
          : `cannot run the PyTorch peer (${answer.error})`;
      return { error: `${why}; ${INSTALL_TORCH}` };
    }
    const info: TorchInfo = {
      torch: String(answer.torch),
      threads: Number(answer.threads),
      onednn: typeof answer.onednn === 'string' ? answer.onednn : null,
      blas: String(answer.blas),
      malloc: typeof answer.malloc === 'string' ? answer.malloc : null,
      configs: answer.configs as TorchInfo['configs'],
    };
    return { peer, info };
  }

  request(req: Record<string, unknown>): Promise<Record<string, unknown> & { error?: string }> {
    return new Promise((resolve) => {
      this.waiting.push((line) =>
        resolve(line === null ? { error: `the PyTorch peer exited (code ${this.exitCode})` } : JSON.parse(line)),
      );
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /**
   * One round of timed runs (ms) of the request's workload, or throws with the peer's error;
   * it returns once the peer's threads are idle (quiet()).
   */
  async times(req: Record<string, unknown>, policy: Policy, warmUp: boolean): Promise<number[]> {
    const answer = await this.request({ ...req, policy, warmUp });
    await this.quiet();
    if (!Array.isArray(answer.times)) throw new Error(answer.error ?? 'no answer');
    return answer.times as number[];
  }

  /**
   * Waits until the peer's process used no CPU tick (10 ms) over 50 ms, at most 1 s. After a
   * ResNet-18 batch the process kept more than one core busy for about 130 ms (OpenBLAS's
   * workers spin before they sleep, libgomp's too), so the contender timed next (convkit, in
   * the next workload's round) ran on cores it shared: the bench's 20 ms pause did not cover it.
   */
  private async quiet(): Promise<void> {
    const cpuTicks = (): number | null => {
      try {
        return cpuTicksOf(readFileSync(`/proc/${this.child.pid}/stat`, 'utf8'));
      } catch {
        return null; // not Linux, or the process is gone
      }
    };
    const start = performance.now();
    let last = cpuTicks();
    while (last !== null && performance.now() - start < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = cpuTicks();
      if (now === null || now === last) return;
      last = now;
    }
  }

  /** The requests of workloads 0, 1, ... as one contender (one configuration of the peer). */
  contender(label: string, requests: readonly Record<string, unknown>[], policy: Policy): Contender {
    return { label, round: (index, warmUp) => this.times(requests[index], policy, warmUp), close: () => {} };
  }

  stop(): void {
    this.child.stdin.end();
  }
}
