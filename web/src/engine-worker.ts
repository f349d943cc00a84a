/**
 * The Run it engine in a Web Worker, so the page stays responsive while a pass runs (ResNet-20's
 * traced pass takes a few hundred milliseconds on a busy machine, a 224x224 network seconds).
 * Messages: `load` (a run's config and checkpoint bytes) answers `loaded`; `run` (pixels) answers
 * `result` with the probabilities, the two passes' times and the traced layers, their arrays
 * transferred, not copied. engine-client.ts is the page's side.
 */
import { setBackend } from '../../src/backend/registry.js';
import { buildRunModel, type LayerActivation, type LoadedRun, probabilities, traceActivations } from './engine.js';
import type { EngineReply, EngineRequest } from './engine-client.js';

// The worker has its own module state: its default backend is the reference one.
setBackend('ref');

let run: LoadedRun | null = null;

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<EngineRequest>) => void) | null;
  postMessage(message: EngineReply, transfer?: Transferable[]): void;
};

function buffersOf(layers: readonly LayerActivation[]): Transferable[] {
  const out: Transferable[] = [];
  for (const l of layers)
    for (const a of [l.output.values, l.input?.values, l.weight?.values, l.bias]) if (a) out.push(a.buffer);
  return out;
}

async function answer(msg: EngineRequest): Promise<EngineReply> {
  if (msg.kind === 'load') {
    run = { name: msg.name, config: msg.config, model: buildRunModel(msg.config, msg.checkpoint) };
    return { kind: 'loaded', id: msg.id };
  }
  if (run === null) throw new Error('no run is loaded');
  const start = performance.now();
  const p = Float64Array.from(await probabilities(run, msg.pixels));
  const forwardMs = performance.now() - start;
  const traced = performance.now();
  const layers = traceActivations(run, msg.pixels);
  return { kind: 'result', id: msg.id, probabilities: p, forwardMs, traceMs: performance.now() - traced, layers };
}

scope.onmessage = (e) => {
  answer(e.data).then(
    (reply) => scope.postMessage(reply, reply.kind === 'result' ? buffersOf(reply.layers) : []),
    (err: unknown) =>
      scope.postMessage({ kind: 'error', id: e.data.id, message: err instanceof Error ? err.message : String(err) }),
  );
};
