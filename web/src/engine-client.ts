/**
 * The page's side of the Run it engine (engine-worker.ts runs it in a Web Worker): fetches a run's
 * config.json and checkpoint, hands them to the worker, and runs images through it. One worker per
 * loaded run; `close` ends it.
 */
import { RUN_FILES } from '../../src/cli/run-files.js';
import type { LayerActivation, RunConfig } from './engine.js';

export type EngineRequest =
  | { kind: 'load'; id: number; name: string; config: RunConfig; checkpoint: Uint8Array }
  | { kind: 'run'; id: number; pixels: Float32Array };

export interface PassResult {
  probabilities: Float64Array;
  /** The fused inference pass (what `convkit predict` runs) and the traced pass, in the worker. */
  forwardMs: number;
  traceMs: number;
  layers: LayerActivation[];
}

export type EngineReply =
  | { kind: 'loaded'; id: number }
  | ({ kind: 'result'; id: number } & PassResult)
  | { kind: 'error'; id: number; message: string };

export interface RunEngine {
  name: string;
  config: RunConfig;
  run(pixels: Float32Array): Promise<PassResult>;
  close(): void;
}

/** Fetches the run's files from the server and builds its model in a new worker. */
export async function openRun(name: string): Promise<RunEngine> {
  const base = `api/runs/${encodeURIComponent(name)}/files/`;
  const get = async (file: string): Promise<Response> => {
    const r = await fetch(base + file);
    if (!r.ok) throw new Error(`${name}/${file}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    return r;
  };
  const config = (await (await get(RUN_FILES.config)).json()) as RunConfig;
  const checkpoint = new Uint8Array(await (await get(RUN_FILES.checkpoint)).arrayBuffer());
  const worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module' });
  const waiting = new Map<number, { resolve: (r: EngineReply) => void; reject: (e: Error) => void }>();
  let next = 0;
  worker.onmessage = (e: MessageEvent<EngineReply>) => {
    const w = waiting.get(e.data.id);
    waiting.delete(e.data.id);
    if (e.data.kind === 'error') w?.reject(new Error(e.data.message));
    else w?.resolve(e.data);
  };
  worker.onerror = (e) => {
    for (const w of waiting.values()) w.reject(new Error(`the engine's worker failed: ${e.message}`));
    waiting.clear();
  };
  const ask = (msg: EngineRequest, transfer: Transferable[] = []): Promise<EngineReply> =>
    new Promise((resolve, reject) => {
      waiting.set(msg.id, { resolve, reject });
      worker.postMessage(msg, transfer);
    });
  try {
    await ask({ kind: 'load', id: next++, name, config, checkpoint }, [checkpoint.buffer]);
  } catch (err) {
    worker.terminate();
    throw err;
  }
  return {
    name,
    config,
    run: async (pixels) => {
      const reply = await ask({ kind: 'run', id: next++, pixels: pixels.slice() });
      return reply as PassResult;
    },
    close: () => worker.terminate(),
  };
}
