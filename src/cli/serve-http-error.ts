/**
 * What the explorer's server modules share: the HTTP error a route throws (its status and the
 * one line the client reads) and the path check every served file goes through.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ConvkitError } from '../core/errors.js';

/** An HTTP error with its status; the message is what the client reads. */
export class HttpError extends ConvkitError {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super('serve', detail, undefined);
  }
}

/** The file `segments` name inside `root`, after resolving symlinks; 403 when it resolves outside. */
export function fileInside(root: string, segments: readonly string[], what: string): string {
  const base = realpathSync(root);
  const path = join(base, ...segments);
  if (!existsSync(path)) throw new HttpError(404, `no ${what} '${segments.join('/')}'`);
  const real = realpathSync(path);
  if (real !== base && !real.startsWith(base + sep))
    throw new HttpError(403, `'${segments.join('/')}' resolves outside the served folder`);
  return real;
}
