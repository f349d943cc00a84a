/** A model summary as aligned text (torchinfo's look) or markdown. */
import { rowsToDepth, showsSubtree, type LayerRow, type ModelSummary } from '../../analysis/summary.js';
import type { OptimizerKind } from '../../analysis/memory.js';
import {
  describeFieldText,
  formatCount,
  formatFieldJump,
  formatFieldSize,
  formatMB,
  scaled,
  formatShape,
  formatWindow,
} from './numbers.js';
import { markdownTable, textTable, textTableWidth, type Column } from './table.js';

/** The line that says what the fusion pass fused (nn.describeFusion); `npm run bench -- --profile` prints it too. */
export const fusionLine = (fusion: string): string => `Fusion: ${fusion}`;

export const OPTIMIZER_NAMES: Readonly<Record<OptimizerKind, string>> = {
  sgd: 'plain SGD',
  'sgd-momentum': 'SGD with momentum',
  adam: 'Adam',
};

/** How the numbers are counted, printed under every summary. */
export const COUNTING_NOTE = [
  'Params: parameters() as torchvision counts them; buffers (BN running statistics) apart. Mult-Adds: conv, linear and matmul',
  'multiply-accumulates, bias excluded (torchvision calls these GFLOPS); FLOPs = 2 x MACs. RF: receptive field of one output',
  'unit in input pixels (padding included), union over all paths; * marks units that see the whole input; Jump: effective stride.',
];

const COLUMNS: readonly Column[] = [
  { header: 'Layer (type (path))', align: 'left' },
  { header: 'Kernel/Stride', align: 'left' },
  { header: 'Output Shape', align: 'left' },
  { header: 'Param #', align: 'right' },
  { header: 'Mult-Adds', align: 'right' },
  { header: 'RF', align: 'right' },
  { header: 'Jump', align: 'right' },
];

/** torchinfo's tree: "├─" at depth 1, "│    └─" below it. */
function treePrefix(depth: number): string {
  if (depth === 0) return '';
  return depth === 1 ? '├─' : `${'│    '.repeat(depth - 1)}└─`;
}

function cells(row: LayerRow, depth: number, tree: boolean): string[] {
  const subtree = showsSubtree(row, depth);
  const shown = (n: number): string => (n > 0 ? formatCount(n) : '--');
  const count = (own: number, all: number): string =>
    row.repeated && all > 0 ? '(recursive)' : shown(subtree ? all : own);
  const name = row.path === '' ? row.type : `${row.type} (${row.path})`;
  return [
    `${tree ? treePrefix(row.depth) : ''}${name}`,
    formatWindow(row.window),
    formatShape(row.outputShape),
    count(row.ownParams, row.params),
    count(row.ownMacs, row.macs),
    formatFieldSize(row.receptiveField),
    formatFieldJump(row.receptiveField),
  ];
}

/** The lines under the table: totals, receptive field, memory. */
function totalsLines(s: ModelSummary): string[] {
  const t = s.totals;
  const m = s.memory;
  const [macs, flops] = [scaled(t.macs), scaled(t.flops)];
  const lines = [
    `Total params: ${formatCount(t.params)}`,
    `Trainable params: ${formatCount(t.trainableParams)}`,
    `Non-trainable params: ${formatCount(t.params - t.trainableParams)}`,
    `Buffers (not trained): ${formatCount(t.buffers)}`,
    `Total mult-adds (${macs[0]}): ${macs[1]}   FLOPs (${flops[0]}): ${flops[1]}`,
  ];
  if (t.receptiveField)
    lines.push(
      `Receptive field: ${describeFieldText(t.receptiveField)} (${t.receptiveField.layer || s.name}, the widest feature map)`,
    );
  lines.push(fusionLine(s.fusion));
  for (const u of s.unused)
    lines.push(
      `Not called in ${s.mode} mode: ${u.path} (${u.type}), ${formatCount(u.params)} params (counted in the totals)`,
    );
  lines.push(
    '',
    `Input size (MB): ${formatMB(s.inputShape.reduce((n, d) => n * d, 4))}`,
    `Forward pass size (MB): ${formatMB(t.forwardBytes)}`,
    `Params size (MB): ${formatMB(t.paramBytes)}`,
    `Training memory, batch ${m.batch}, ${OPTIMIZER_NAMES[m.optimizer]} (MB): ${formatMB(m.totalBytes)} = params ${formatMB(m.parameterBytes)} + gradients ${formatMB(m.gradientBytes)}` +
      ` + optimiser state ${formatMB(m.optimizerStateBytes)} + buffers ${formatMB(m.bufferBytes)} + saved activations ${formatMB(m.activationBytes)}`,
  );
  return lines;
}

export function summaryText(s: ModelSummary, depth: number): string {
  const rows = rowsToDepth(s.rows, depth).map((r) => cells(r, depth, true));
  const rule = '='.repeat(textTableWidth(COLUMNS, rows));
  // torchinfo draws '=' rules where textTable draws its dashes.
  const [header, , ...body] = textTable(COLUMNS, rows);
  return [
    `${s.name}: input ${formatShape(s.inputShape)}, ${s.mode} mode`,
    rule,
    header,
    rule,
    ...body,
    rule,
    ...totalsLines(s),
    rule,
    ...COUNTING_NOTE,
  ].join('\n');
}

export function summaryMarkdown(s: ModelSummary, depth: number): string {
  const shown = rowsToDepth(s.rows, depth);
  // Markdown tables collapse spaces, so depth is shown with non-breaking ones.
  const rows = shown.map((r) => {
    const [name, ...rest] = cells(r, depth, false);
    return [`${'&nbsp;'.repeat(2 * r.depth)}${name}`, ...rest];
  });
  return [
    `### ${s.name}: input ${formatShape(s.inputShape)}, ${s.mode} mode`,
    '',
    ...markdownTable(COLUMNS, rows),
    '',
    ...totalsLines(s).map((l) => (l === '' ? '' : `- ${l}`)),
    '',
    `_${COUNTING_NOTE.join(' ')}_`,
  ].join('\n');
}
