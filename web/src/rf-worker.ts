/**
 * The receptive-field view's worker: computes effective fields (rf-effective.ts) on the reference
 * backend off the page's thread, so the page stays responsive while ResNet-50 runs. Messages are
 * rf-client.ts's: a request in, progress reports and one result or error out.
 */
import { setBackend } from '../../src/backend/registry.js';
import type { FieldReply, FieldAsk } from './rf-client.js';
import { effectiveField } from './rf-effective.js';

setBackend('ref');

const post = (reply: FieldReply): void => (self as unknown as Worker).postMessage(reply);

self.onmessage = (e: MessageEvent<FieldAsk>): void => {
  const { id, request } = e.data;
  try {
    const result = effectiveField(request, (stage, done, total) => post({ id, kind: 'progress', stage, done, total }));
    post({ id, kind: 'done', result });
  } catch (err) {
    post({ id, kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
