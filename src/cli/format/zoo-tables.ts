/** The tables of `convkit list` and `convkit compare`, as text, markdown or JSON. */
import { OPTIMIZER_NAMES } from './summary.js';
import type { ModelSummary } from '../../analysis/summary.js';
import { publishedResult } from '../../analysis/zoo.js';
import type { ModelEntry } from '../../models/entry.js';
import type { Format } from '../args.js';
import { formatCount, formatFieldJump, formatFieldSize, formatGiga, formatMB } from './numbers.js';
import { markdownTable, textTable, type Column } from './table.js';

export interface Measured {
  entry: ModelEntry;
  summary: ModelSummary;
}

const chw = (shape: readonly number[]): string => shape.join('x');

const LIST_COLUMNS: readonly Column[] = [
  { header: 'name', align: 'left' },
  { header: 'family', align: 'left' },
  { header: 'layout', align: 'left' },
  { header: 'input', align: 'left' },
  { header: 'params', align: 'right' },
  { header: 'GMACs', align: 'right' },
  { header: 'published', align: 'left' },
  { header: 'idea', align: 'left' },
];

export function listTable(models: readonly Measured[], format: Format): string {
  if (format === 'json') {
    return JSON.stringify(
      {
        schema: 'convkit.list/1',
        models: models.map(({ entry: e, summary: s }) => ({
          name: e.name,
          family: e.family,
          layout: e.layout,
          input: e.input,
          classes: e.classes,
          params: s.totals.params,
          macs: s.totals.macs,
          published: e.published,
          idea: e.idea,
        })),
      },
      null,
      2,
    );
  }
  const rows = models.map(({ entry: e, summary: s }) => [
    e.name,
    e.family,
    e.layout,
    chw(e.input),
    formatCount(s.totals.params),
    formatGiga(s.totals.macs),
    publishedResult(e),
    e.idea,
  ]);
  const lines = format === 'markdown' ? markdownTable(LIST_COLUMNS, rows) : textTable(LIST_COLUMNS, rows, 2);
  const note =
    "params and GMACs computed from the built models (multiply-adds at the default input, batch 1); published: torchvision ImageNet top-1, or the papers' CIFAR-10 test error.";
  return [...lines, '', format === 'markdown' ? `_${note}_` : note].join('\n');
}

/** One line per measure, one column per model. */
export function compareTable(models: readonly Measured[], format: Format): string {
  if (format === 'json') {
    return JSON.stringify(
      {
        schema: 'convkit.compare/1',
        models: models.map(({ entry: e, summary: s }) => ({
          name: e.name,
          family: e.family,
          layout: e.layout,
          input: s.inputShape,
          batch: s.batch,
          params: s.totals.params,
          buffers: s.totals.buffers,
          macs: s.totals.macs,
          flops: s.totals.flops,
          receptiveField: s.totals.receptiveField,
          forwardBytes: s.totals.forwardBytes,
          memory: s.memory,
          published: e.published,
          idea: e.idea,
        })),
      },
      null,
      2,
    );
  }
  const first = models[0].summary.memory;
  const measures: [string, (m: Measured) => string][] = [
    ['family / layout', ({ entry: e }) => `${e.family} / ${e.layout}`],
    ['input', ({ summary: s }) => chw(s.inputShape.slice(1))],
    ['params', ({ summary: s }) => formatCount(s.totals.params)],
    ['GMACs', ({ summary: s }) => formatGiga(s.totals.macs)],
    ['GFLOPs (2 x MACs)', ({ summary: s }) => formatGiga(s.totals.flops)],
    ['receptive field', ({ summary: s }) => formatFieldSize(s.totals.receptiveField)],
    ['effective stride', ({ summary: s }) => formatFieldJump(s.totals.receptiveField)],
    [`forward pass, batch ${first.batch} (MB)`, ({ summary: s }) => formatMB(s.totals.forwardBytes)],
    [
      `training memory, batch ${first.batch}, ${OPTIMIZER_NAMES[first.optimizer]} (MB)`,
      ({ summary: s }) => formatMB(s.memory.totalBytes),
    ],
    ['published', ({ entry: e }) => publishedResult(e) || '--'],
  ];
  const columns: Column[] = [
    { header: '', align: 'left' },
    ...models.map((m): Column => ({ header: m.entry.name, align: 'right' })),
  ];
  const rows = measures.map(([label, value]) => [label, ...models.map(value)]);
  const table = format === 'markdown' ? markdownTable(columns, rows) : textTable(columns, rows, 3);
  const bullet = format === 'markdown' ? '- ' : '  ';
  return [
    ...table,
    '',
    'The idea each introduced:',
    ...models.map(({ entry: e }) => `${bullet}${e.name}: ${e.idea}`),
    '',
    'Receptive field: of the widest feature map before the classifier pools or flattens it (input pixels, padding included; * when one unit sees the whole input).',
  ].join('\n');
}
