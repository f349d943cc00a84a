#!/usr/bin/env node
/**
 * The `convkit` command line. Everything that can fail, loading the library included (it reads
 * CONVKIT_* variables), runs inside the error boundary: a failure is one line on stderr and an exit
 * status (boundary.ts). The static imports here are only the boundary and what it needs.
 */
import { exitWith, installProcessHandlers } from './boundary.js';

installProcessHandlers();
try {
  const { runProgram } = await import('./program.js');
  await runProgram(process.argv);
} catch (err) {
  exitWith(err);
}
