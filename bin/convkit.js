#!/usr/bin/env node
// The `convkit` command. Runs the compiled CLI when `npm run build` made one, else the
// TypeScript sources through tsx, so a fresh clone works without a build step. main reports its
// own errors in one line (src/cli/boundary.ts); this catch is for failures before it can run.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

try {
  const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  if (existsSync(compiled)) {
    await import(compiled);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('../src/cli/main.ts');
  }
} catch (err) {
  const debug = (process.env.CONVKIT_DEBUG ?? '').split(',').some((s) => ['stack', 'all'].includes(s.trim()));
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  process.stderr.write(
    debug && err instanceof Error
      ? `${err.stack}\n`
      : `convkit: cannot start: ${what.replace(/\s*\n\s*/g, ' ')} (set CONVKIT_DEBUG=stack for the stack trace)\n`,
  );
  process.exit(1);
}
