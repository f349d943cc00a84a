/** The per-layer table: the rows of `convkit summary` (same depth rule and cells), sortable by any column. */
import { useState } from 'preact/hooks';
import { rowsToDepth, showsSubtree, type LayerRow } from '../../src/analysis/summary.js';
import { formatCount, formatFieldJump, formatFieldSize, formatShape, formatWindow } from './numbers.js';

interface Column {
  id: string;
  title: string;
  num: boolean;
  text: (r: LayerRow, depth: number) => string;
  /** Sort key; rows keep call order where it ties. */
  key: (r: LayerRow, depth: number) => number | string;
}

const shownCount = (r: LayerRow, depth: number, own: number, all: number): number =>
  showsSubtree(r, depth) ? all : own;
const countCell = (n: number, repeated: boolean): string =>
  repeated && n > 0 ? '(recursive)' : n > 0 ? formatCount(n) : '--';

const COLUMNS: readonly Column[] = [
  { id: 'index', title: '#', num: true, text: (r) => String(r.index), key: (r) => r.index },
  {
    id: 'layer',
    title: 'layer (type (path))',
    num: false,
    text: (r) => `${'  '.repeat(r.depth)}${r.path === '' ? r.type : `${r.type} (${r.path})`}`,
    key: (r) => r.path,
  },
  {
    id: 'window',
    title: 'kernel/stride',
    num: false,
    text: (r) => formatWindow(r.window),
    key: (r) => formatWindow(r.window),
  },
  {
    id: 'shape',
    title: 'output shape',
    num: false,
    text: (r) => formatShape(r.outputShape),
    key: (r) => (r.outputShape ?? []).reduce((a, b) => a * b, 1),
  },
  {
    id: 'params',
    title: 'params',
    num: true,
    text: (r, d) => countCell(shownCount(r, d, r.ownParams, r.params), r.repeated),
    key: (r, d) => shownCount(r, d, r.ownParams, r.params),
  },
  {
    id: 'macs',
    title: 'mult-adds',
    num: true,
    text: (r, d) => countCell(shownCount(r, d, r.ownMacs, r.macs), r.repeated),
    key: (r, d) => shownCount(r, d, r.ownMacs, r.macs),
  },
  {
    id: 'rf',
    title: 'RF',
    num: true,
    text: (r) => formatFieldSize(r.receptiveField),
    key: (r) => r.receptiveField?.size[0] ?? -1,
  },
  {
    id: 'jump',
    title: 'jump',
    num: true,
    text: (r) => formatFieldJump(r.receptiveField),
    key: (r) => r.receptiveField?.jump[0] ?? -1,
  },
  {
    id: 'bytes',
    title: 'output MB',
    num: true,
    text: (r) => (r.outputBytes / 1e6).toFixed(2),
    key: (r) => r.outputBytes,
  },
];

export function LayerTable({ rows, depth }: { rows: readonly LayerRow[]; depth: number }) {
  const [sort, setSort] = useState<{ id: string; down: boolean }>({ id: 'index', down: false });
  const column = COLUMNS.find((c) => c.id === sort.id) ?? COLUMNS[0];
  const shown = rowsToDepth(rows, depth).slice();
  shown.sort((a, b) => {
    const ka = column.key(a, depth);
    const kb = column.key(b, depth);
    const c = ka < kb ? -1 : ka > kb ? 1 : a.index - b.index;
    return sort.down ? -c : c;
  });
  const onSort = (id: string): void =>
    setSort((s) => ({ id, down: s.id === id ? !s.down : id !== 'index' && id !== 'layer' }));
  return (
    <table class="data layers" data-testid="layer-table">
      <thead>
        <tr>
          {COLUMNS.map((c) => (
            <th
              key={c.id}
              scope="col"
              class={c.num ? 'num' : ''}
              aria-sort={sort.id === c.id ? (sort.down ? 'descending' : 'ascending') : 'none'}
            >
              <button type="button" onClick={() => onSort(c.id)} data-sort={c.id}>
                {c.title}
                {sort.id === c.id ? (sort.down ? ' ▼' : ' ▲') : ''}
              </button>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {shown.map((r) => (
          <tr key={r.index} data-row={r.index} data-path={r.path}>
            {COLUMNS.map((c) => (
              <td key={c.id} class={c.num ? 'num' : c.id === 'layer' ? 'pre' : ''} data-field={c.id}>
                {c.text(r, depth)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
