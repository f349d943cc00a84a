/**
 * Disagreements the fuzzer found that are not about special values (those are switched off per op
 * in tolerances.ts), and cases that crash the process. Generated cases that match one are skipped
 * (fast-check's precondition), so that a known bug neither fails the test suite nor hides other
 * bugs of the same op in `npm run fuzz`, and a crash does not end the run. Each entry names the
 * regression test (test/fuzz/regressions.test.ts) that replays it; remove the entry when the bug
 * is fixed (`npm run fuzz -- --include-known` runs matching cases anyway).
 */
import type { Case } from './harness.js';

export interface KnownIssue {
  op: string;
  /** 'crash': the process dies (a segfault in the native addon); 'disagreement': the values differ. */
  kind: 'crash' | 'disagreement';
  what: string;
  /** The reproduction under test/fuzz/found/ that regressions.test.ts replays. */
  regression: string;
  matches: (c: Case) => boolean;
}

export const KNOWN_ISSUES: readonly KnownIssue[] = [];

/** Ops that share another op's known issues (the wide forms of the convolutions). */
const SAME_AS: Readonly<Record<string, string>> = { conv2dFusedWide: 'conv2dFused', conv2dWide: 'conv2d' };

export function knownIssue(c: Case): KnownIssue | undefined {
  const op = SAME_AS[c.op] ?? c.op;
  return KNOWN_ISSUES.find((k) => k.op === op && k.matches(c));
}
