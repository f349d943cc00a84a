/**
 * The page's side of the effective-field worker (rf-worker.ts): one worker for the page's
 * lifetime (it keeps the models it built), the latest request wins, and a hook gives a view the
 * state of its request: computing (with the stage), done or failed.
 */
import { useEffect, useState } from 'preact/hooks';
import type { FieldProgress, FieldRequest, FieldResult } from './rf-effective.js';

type Stage = Parameters<FieldProgress>[0];

export interface FieldAsk {
  id: number;
  request: FieldRequest;
}

export type FieldReply =
  | { id: number; kind: 'progress'; stage: Stage; done: number; total: number }
  | { id: number; kind: 'done'; result: FieldResult }
  | { id: number; kind: 'error'; message: string };

export type FieldState =
  | { status: 'computing'; stage: Stage | 'waiting'; done: number; total: number }
  | { status: 'done'; result: FieldResult }
  | { status: 'error'; message: string };

let worker: Worker | null = null;
let nextId = 1;
/** The request the worker is running, and the latest one asked for while it ran (earlier ones are dropped). */
let running: number | null = null;
let queued: FieldAsk | null = null;
const listeners = new Map<number, (reply: FieldReply) => void>();

/** Hands `reply` to its listener; a final one frees the worker for the queued request. */
function deliver(reply: FieldReply): void {
  listeners.get(reply.id)?.(reply);
  if (reply.kind === 'progress') return;
  running = null;
  const next = queued;
  queued = null;
  if (next) start(next);
}

function start(ask: FieldAsk): void {
  if (worker === null) {
    const w = new Worker(new URL('./rf-worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (e: MessageEvent<FieldReply>) => deliver(e.data);
    // A worker that dies (out of memory, say) answers nothing more: say so, and start a fresh one next time.
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      w.terminate();
      worker = null;
      if (running !== null)
        deliver({ id: running, kind: 'error', message: `the worker stopped: ${e.message || 'no reason given'}` });
    };
    worker = w;
  }
  running = ask.id;
  worker.postMessage(ask);
}

function ask(request: FieldRequest, listener: (reply: FieldReply) => void): () => void {
  const id = nextId++;
  listeners.set(id, listener);
  const item = { id, request };
  if (running === null) start(item);
  else queued = item;
  return () => {
    listeners.delete(id);
    if (queued?.id === id) queued = null;
  };
}

/** The effective field of `request` (asked again when `key` changes), or null while there is no request. */
export function useEffectiveField(request: FieldRequest | null, key: string): FieldState | null {
  // The state is kept with the key it answers, so a render for a new key never shows the last key's result.
  const [answer, setAnswer] = useState<{ key: string; state: FieldState } | null>(null);
  // The key names the request: a new request object with the same key asks nothing new.
  const asking = request !== null;
  useEffect(() => {
    if (request === null) return;
    const set = (state: FieldState): void => setAnswer({ key, state });
    return ask(request, (reply) => {
      if (reply.kind === 'progress')
        set({ status: 'computing', stage: reply.stage, done: reply.done, total: reply.total });
      else if (reply.kind === 'done') set({ status: 'done', result: reply.result });
      else set({ status: 'error', message: reply.message });
    });
  }, [key, asking]);
  if (request === null) return null;
  return answer?.key === key ? answer.state : { status: 'computing', stage: 'waiting', done: 0, total: 1 };
}
