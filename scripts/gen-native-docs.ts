/**
 * Writes the table "What runs natively" of docs/native-backend.md from the rows each native kernel
 * file states beside its kernels (`NATIVE_RUNS` in src/backend/native/index.ts); the kernels in no
 * row, from the kernel contract, make its last row. Run it after changing a row:
 * `npx tsx scripts/gen-native-docs.ts`. test/backend/native-docs.test.ts fails while the committed
 * table differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type KernelName, RESULT_SIZES } from '../src/backend/backend.js';
import type { NativeRun } from '../src/backend/native/fallback.js';
import { NATIVE_RUNS } from '../src/backend/native/index.js';

export const DOC_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs/native-backend.md');
export const BEGIN =
  '<!-- the table below is written by scripts/gen-native-docs.ts from src/backend/native: do not edit it here -->';
export const END = '<!-- end of the generated table -->';

const cell = (text: string): string => text.replaceAll('|', '\\|');

/** The markdown table for these rows; every kernel of the contract in no row is listed as reference only. */
export function renderNativeTable(runs: readonly NativeRun[], kernels: readonly KernelName[]): string {
  const described = new Set<KernelName>();
  for (const run of runs)
    for (const k of run.kernels) {
      if (described.has(k))
        throw new Error(`kernel '${k}' is in two rows of the native table (the second: '${run.name}')`);
      described.add(k);
    }
  const rest = kernels.filter((k) => !described.has(k));
  return [
    '| kernel | native cases | reference fallback |',
    '|---|---|---|',
    ...runs.map((r) => `| ${cell(r.name)} | ${cell(r.native)} | ${cell(r.fallback)} |`),
    ...(rest.length > 0 ? [`| ${rest.join(', ')} | none | all |`] : []),
  ].join('\n');
}

/** `doc` with the text between the markers replaced by `table`; throws when a marker is missing. */
export function replaceTable(doc: string, table: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${DOC_FILE}: expected the markers '${BEGIN}' and then '${END}'`);
  return `${doc.slice(0, begin + BEGIN.length)}\n${table}\n${doc.slice(end)}`;
}

/** What the doc should hold now. */
export function expectedDoc(): string {
  const table = renderNativeTable(NATIVE_RUNS, Object.keys(RESULT_SIZES) as KernelName[]);
  return replaceTable(readFileSync(DOC_FILE, 'utf8'), table);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(DOC_FILE, expectedDoc());
  console.log(`wrote the native table of ${DOC_FILE}`);
}
