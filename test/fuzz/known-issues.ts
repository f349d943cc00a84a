/**
 * Disagreements the fuzzer found that are not about special values (those are switched off per op
 * in tolerances.ts), and cases that crash the process. Generated cases that match one are skipped
 * (fast-check's precondition), so that a known bug neither fails the test suite nor hides other
 * bugs of the same op in `npm run fuzz`, and a crash does not end the run. Each entry names the
 * regression test (test/fuzz/regressions.test.ts) that replays it; remove the entry when the bug
 * is fixed (`npm run fuzz -- --include-known` runs matching cases anyway).
 */
import type { Conv2dGeometry } from '../../src/backend/backend.js';
import { conv2dGeometry } from '../../src/ops/index.js';
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

/** Whether some output row or column of a convolution has its whole window in the padding. */
export function hasPaddingOnlyWindow(g: Conv2dGeometry): boolean {
  const axis = (out: number, kernel: number, stride: number, pad: number, dilation: number, size: number): boolean => {
    for (let i = 0; i < out; i++) {
      let inside = false;
      for (let r = 0; r < kernel; r++) {
        const at = i * stride - pad + r * dilation;
        if (at >= 0 && at < size) inside = true;
      }
      if (!inside) return true;
    }
    return false;
  };
  return (
    axis(g.outH, g.kernelH, g.strideH, g.padTop, g.dilationH, g.inH) ||
    axis(g.outW, g.kernelW, g.strideW, g.padLeft, g.dilationW, g.inW)
  );
}

/** A fused conv2d case (addend present, relu as given) with a window entirely in the padding. */
function fusedWithPaddingOnlyWindow(c: Case, needRelu: boolean, needBias: boolean): boolean {
  const a = c.args as { relu?: boolean };
  if ((needRelu && !a.relu) || (needBias && !c.inputs.b) || !c.inputs.addend || !c.inputs.w) return false;
  try {
    return hasPaddingOnlyWindow(conv2dGeometry(c.inputs.x.shape, c.inputs.w.shape, c.args));
  } catch {
    return false;
  }
}

export const KNOWN_ISSUES: readonly KnownIssue[] = [
  {
    op: 'conv2dFused',
    kind: 'crash',
    what: 'native conv2d with both fused post-ops (addend and relu) segfaults when an output row or column reads only padding',
    regression: 'conv2dFused-crash-relu-addend-padding-window.json',
    matches: (c) => fusedWithPaddingOnlyWindow(c, true, false),
  },
  {
    op: 'conv2dFused',
    kind: 'disagreement',
    what: 'native conv2d with a bias and a fused addend drops the bias at outputs whose window reads only padding',
    regression: 'conv2dFused-finite-bias-lost-padding-window.json',
    matches: (c) => fusedWithPaddingOnlyWindow(c, false, true),
  },
  {
    op: 'localResponseNorm',
    kind: 'crash',
    what: 'native localResponseNorm backward segfaults with one channel, one spatial element and size 1 (x of shape [N, 1, 1])',
    regression: 'localResponseNorm-crash-backward-one-element.json',
    matches: (c) => {
      const shape = c.inputs.x?.shape ?? [];
      const spatial = shape.slice(2).reduce((n, d) => n * d, 1);
      return c.grad && shape[1] === 1 && spatial === 1 && (c.args as { size?: number }).size === 1;
    },
  },
];

/** Ops that share another op's known issues (the wide forms of the convolutions). */
const SAME_AS: Readonly<Record<string, string>> = { conv2dFusedWide: 'conv2dFused', conv2dWide: 'conv2d' };

export function knownIssue(c: Case): KnownIssue | undefined {
  const op = SAME_AS[c.op] ?? c.op;
  return KNOWN_ISSUES.find((k) => k.op === op && k.matches(c));
}
