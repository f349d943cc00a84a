/**
 * `POST /api/runs/<run>/predict`: the explorer's one upload. The body is a PNG, JPEG or WebP image
 * (its Content-Type says which; any other type also makes a cross-site browser POST ask a CORS
 * preflight, which this server never grants), read up to MAX_UPLOAD_BYTES and never further,
 * decoded and scaled as `convkit predict` reads a file, and ranked by the run's model with its
 * checkpoint: the answer is the top classes with their probabilities. Nothing is written; the
 * body lives in memory only. A run's model stays loaded (a few runs at most) until its
 * checkpoint changes, so a second image is fast.
 */
import { existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { loadPredictor, type Prediction, type Predictor, readImage } from './predict.js';
import { HttpError } from './serve-http-error.js';
import { RUN_FILES } from './train-run-folder.js';

/** Largest image body accepted. */
export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
/** Classes answered per image. */
export const UPLOAD_TOP = 5;
/** Runs whose model stays loaded. */
const CACHED_RUNS = 3;
/** How long a refused body is still drained (so the client reads the answer) before the socket is closed. */
const DRAIN_MS = 2000;

/** The accepted types and the bytes each format starts with. */
const IMAGE_TYPES: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff])),
  'image/webp': (b) =>
    b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

const cache = new Map<string, { mtimeMs: number; predictor: Predictor }>();

/** The run's predictor, loaded once per checkpoint version; the least recently used run leaves first. */
function predictorOf(run: string, dir: string): Predictor {
  const checkpoint = join(dir, RUN_FILES.checkpoint);
  if (!existsSync(checkpoint))
    throw new HttpError(409, `run '${run}' has no ${RUN_FILES.checkpoint} yet (convkit train writes it each epoch)`);
  const { mtimeMs } = statSync(checkpoint);
  const hit = cache.get(dir);
  cache.delete(dir);
  const predictor = hit !== undefined && hit.mtimeMs === mtimeMs ? hit.predictor : loadPredictor(dir, {});
  cache.set(dir, { mtimeMs, predictor });
  if (cache.size > CACHED_RUNS) cache.delete(cache.keys().next().value as string);
  return predictor;
}

/** The media type of the request, checked against the accepted ones (415 otherwise). */
function imageType(req: IncomingMessage): string {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!(type in IMAGE_TYPES))
    throw new HttpError(
      415,
      `Content-Type must be one of ${Object.keys(IMAGE_TYPES).join(', ')}, got '${type.slice(0, 60) || 'none'}'`,
    );
  return type;
}

/** Reads the body, refusing (413) as soon as its declared or counted length passes the limit. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit)
    return Promise.reject(new HttpError(413, `image of ${declared} bytes; at most ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > limit) {
        chunks.length = 0;
        req.off('data', onData);
        reject(new HttpError(413, `image body passed ${limit} bytes; at most ${limit}`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The body as the model's input; 400 when its bytes are not the declared format, 422 when they do not decode. */
async function uploadedPixels(body: Buffer, type: string, input: [number, number, number]): Promise<Float32Array> {
  const name = `the uploaded ${type} body (${body.length} bytes)`;
  if (body.length === 0) throw new HttpError(400, `${name} is empty; send the image's bytes`);
  if (!IMAGE_TYPES[type](body))
    throw new HttpError(
      400,
      `${name} does not start as an ${type} file does; it starts with ${body.subarray(0, 8).toString('hex')}`,
    );
  try {
    return await readImage(body, input, name);
  } catch (err) {
    throw new HttpError(422, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Answers one upload: `runDir` resolves the run (404 for an unknown one), `fail` sends an error.
 * The body is drained, not kept, after a refusal, and the connection closed.
 */
export async function predictUpload(
  req: IncomingMessage,
  res: ServerResponse,
  run: string,
  runDir: (name: string) => string,
  send: (status: number, value: unknown) => void,
): Promise<void> {
  try {
    const dir = runDir(run);
    const type = imageType(req);
    const predictor = predictorOf(run, dir);
    const body = await readBody(req, MAX_UPLOAD_BYTES);
    const pixels = await uploadedPixels(body, type, predictor.input);
    const top: Prediction['top'] = await predictor.top(pixels, UPLOAD_TOP);
    send(200, { run, input: predictor.input, top });
  } catch (err) {
    if (!req.complete) {
      res.setHeader('connection', 'close');
      req.resume();
      const timer = setTimeout(() => req.socket.destroy(), DRAIN_MS).unref();
      req.once('end', () => clearTimeout(timer));
    }
    throw err;
  }
}
