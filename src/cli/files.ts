/**
 * Output files of the commands. `checkOutputPath` finds what would make a write fail before any
 * long work starts; `writeFileAtomic` writes a file whole or not at all (a temporary file in the
 * same folder, then a rename) and leaves no temporary file behind on any way out: an error, an
 * exit, SIGINT or SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConvkitError } from '../core/errors.js';
import { UsageError } from './args.js';

/** A file could not be written (after the checks passed: a full disk, say); exit status 1. */
export class OutputError extends ConvkitError {}

const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'no such file or folder',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
};

/** An error of the file system in a few words: "permission denied (EACCES)". */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && REASONS[code] !== undefined) return `${REASONS[code]} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

// ---- temporary files, removed on every way out ---------------------------------------------------

const temporaries = new Set<string>();
let handlersInstalled = false;

function removeTemporaries(): void {
  for (const t of temporaries) rmSync(t, { force: true });
  temporaries.clear();
}

/** What SIGINT does instead of ending the process, while a command asks for it (see onInterrupt). */
let interruptHandler: (() => void) | null = null;

function onSignal(signal: NodeJS.Signals): void {
  if (signal === 'SIGINT' && interruptHandler !== null) {
    // The first Ctrl-C asks the command to stop at a good place; a second one ends it at once.
    const handler = interruptHandler;
    interruptHandler = null;
    handler();
    return;
  }
  removeTemporaries();
  // Die of the signal as if no handler had been installed (exit status 128 + its number).
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', removeTemporaries);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}

function track(path: string): void {
  installHandlers();
  temporaries.add(path);
}

/**
 * Until called again with null, the first SIGINT runs `handler` instead of removing the temporary
 * files and ending the process (a long command finishes its step and saves); a second SIGINT, or
 * SIGTERM, still ends it at once.
 */
export function onInterrupt(handler: (() => void) | null): void {
  installHandlers();
  interruptHandler = handler;
}

/** A temporary name beside `path`, removed on every way out (for writers that stream, such as checkpoints). */
export function trackedTemporary(path: string): { path: string; release: () => void } {
  const temporary = temporaryBeside(path);
  track(temporary);
  return { path: temporary, release: () => untrack(temporary) };
}

function untrack(path: string): void {
  rmSync(path, { force: true });
  temporaries.delete(path);
}

/** A fresh name beside `path`: `.name.<pid>.<random>.tmp`, hidden, in the same folder (so rename is atomic). */
function temporaryBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

// ---- checks before the work ----------------------------------------------------------------------

/**
 * Checks that `path` can be written, before the work that makes its contents: it is not a folder,
 * the nearest folder above it that exists is a folder (not a file) and a file can be created there
 * (tried with a temporary file, removed at once). Missing folders are not made here (so a failure
 * later leaves nothing behind); writeFileAtomic makes them. `option` names the argument in errors.
 * Returns the absolute path.
 */
export function checkOutputPath(path: string, option: string): string {
  const target = resolve(path);
  let stats: Stats | undefined;
  try {
    stats = statOrUndefined(target);
  } catch (err) {
    throw new UsageError(`${option}: cannot use ${path}: ${fsReason(err)}`);
  }
  if (stats?.isDirectory()) throw new UsageError(`${option}: ${path} is a folder; expected a file name`);
  // The nearest existing folder above the target, where the missing folders would be made.
  let dir = dirname(target);
  for (;;) {
    let s: Stats | undefined;
    try {
      s = statOrUndefined(dir);
    } catch (err) {
      throw new UsageError(`${option}: cannot use ${dir}: ${fsReason(err)}`);
    }
    if (s !== undefined) {
      if (!s.isDirectory()) throw new UsageError(`${option}: ${dir} is not a folder, so ${path} cannot be written`);
      break;
    }
    const up = dirname(dir);
    if (up === dir) throw new UsageError(`${option}: no folder above ${path} exists`);
    dir = up;
  }
  const probe = temporaryBeside(join(dir, basename(target)));
  track(probe);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (err) {
    throw new UsageError(`${option}: cannot write in ${dir}: ${fsReason(err)}`);
  } finally {
    untrack(probe);
  }
  return target;
}

// ---- the write itself ----------------------------------------------------------------------------

/** Writes `contents` to `path` whole or not at all, making missing folders above it. */
export function writeFileAtomic(path: string, contents: string | Uint8Array): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new OutputError(path, `cannot make its folder: ${fsReason(err)}`);
  }
  const temporary = temporaryBeside(path);
  track(temporary);
  try {
    const fd = openSync(temporary, 'wx');
    try {
      writeFileSync(fd, contents);
      // On disk before the rename, so a crash leaves the old file or the new one, never an empty one.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (err) {
    throw new OutputError(path, `cannot write: ${fsReason(err)}`);
  } finally {
    untrack(temporary);
  }
}
