/**
 * The command line's error boundary: whatever goes wrong becomes one line on stderr,
 * `convkit: <what>`, and an exit status: 2 for a mistake in the call (a usage error, commander's
 * own included), 1 for a failure while running. Errors convkit did not expect get a hint; their
 * stack trace is printed only with CONVKIT_DEBUG=stack (or all). This module imports nothing of the
 * library beyond its error classes, so that errors thrown while the library loads land here too.
 */
import { CommanderError } from 'commander';
import { ConvkitError } from '../core/errors.js';
import { UsageError } from './args.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export const STACK_HINT = '(set CONVKIT_DEBUG=stack for the stack trace)';

/** True when CONVKIT_DEBUG (a comma-separated list) asks for stack traces. */
export function wantsStack(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.CONVKIT_DEBUG ?? '').split(',').some((s) => s.trim() === 'stack' || s.trim() === 'all');
}

/** Lines joined into one, so that every report is a single line. */
const oneLine = (text: string): string =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');

export interface Report {
  /** The exit status. */
  status: number;
  /** What to print on stderr (one line unless a stack trace was asked for); '' for nothing. */
  text: string;
}

/**
 * True for commander's way of ending after it printed what was asked: `--help`, `help [command]`
 * (code commander.help with exit code 0; without a command that needs one, it is 1) or --version.
 */
export function isHelpShown(err: unknown): boolean {
  if (!(err instanceof CommanderError)) return false;
  if (err.code === 'commander.help') return err.exitCode === 0;
  return err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
}

/** How an error thrown by a command (or while loading one) is reported. */
export function reportFor(err: unknown, stack = wantsStack()): Report {
  if (err instanceof CommanderError) {
    // Help printed what was asked for; anything else is a mistake in the call.
    if (isHelpShown(err)) return { status: EXIT_OK, text: '' };
    return { status: EXIT_USAGE, text: `convkit: ${oneLine(err.message.replace(/^error: /, ''))}` };
  }
  const status = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  if (stack) return { status, text: err instanceof Error && err.stack ? err.stack : String(err) };
  if (err instanceof ConvkitError) return { status, text: `convkit: ${oneLine(err.message)}` };
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { status, text: `convkit: internal error: ${oneLine(what)} ${STACK_HINT}` };
}

/** Prints the report of `err` and ends the process with its status. */
export function exitWith(err: unknown): never {
  const { status, text } = reportFor(err);
  if (text !== '') {
    try {
      process.stderr.write(`${text}\n`);
    } catch {
      // stderr is gone too: nothing left to tell.
    }
  }
  process.exit(status);
}

/**
 * Routes what could escape the boundary to it: errors thrown outside the command's promise,
 * rejections nobody awaited, and a closed stdout. A reader that stops early (`| head -1`) closes
 * the pipe; node ignores SIGPIPE and reports EPIPE instead, which ends the program quietly with
 * status 0, as SIGPIPE ends `cat`.
 */
export function installProcessHandlers(): void {
  process.on('uncaughtException', exitWith);
  process.on('unhandledRejection', exitWith);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    exitWith(err);
  });
  process.stderr.on('error', () => process.exit(process.exitCode ?? EXIT_FAILURE));
}

/** Writes command output to stdout, quietly doing nothing once stdout is closed. */
export function print(text: string): void {
  if (process.stdout.destroyed || process.stdout.writableEnded) return;
  process.stdout.write(`${text}\n`);
}
