/** Two models side by side: totals, then the layers matched by path, with every difference marked. */
import { useMemo, useState } from 'preact/hooks';
import { rowsToDepth, showsSubtree, type LayerRow } from '../../src/analysis/summary.js';
import { analyse } from './convkit.js';
import { DepthInput, ModelSelect } from './inputs.js';
import type { Route } from './main.js';
import { navigate } from './main.js';
import { fieldText, formatCount, formatShape, formatWindow } from './numbers.js';

interface Side {
  type: string;
  window: string;
  shape: string;
  params: number;
  macs: number;
}

const side = (r: LayerRow | undefined, depth: number): Side | null =>
  r
    ? {
        type: r.type,
        window: formatWindow(r.window),
        shape: formatShape(r.outputShape),
        params: showsSubtree(r, depth) ? r.params : r.ownParams,
        macs: showsSubtree(r, depth) ? r.macs : r.ownMacs,
      }
    : null;

/** Paths of both models in order: a's, with b's extra paths after the path they follow. */
function mergedPaths(a: readonly LayerRow[], b: readonly LayerRow[]): string[] {
  const out = a.map((r) => r.path);
  const known = new Set(out);
  let after = -1;
  for (const r of b) {
    if (known.has(r.path)) after = out.indexOf(r.path);
    else {
      out.splice(after + 1, 0, r.path);
      known.add(r.path);
      after += 1;
    }
  }
  return out;
}

export function CompareView({ route }: { route: Route }) {
  const [a = 'alexnet_paper', b = 'alexnet'] = route.args;
  const [depth, setDepth] = useState(2);
  const result = useMemo(() => {
    try {
      return { a: analyse(a), b: analyse(b) };
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }, [a, b]);
  const picker = (
    <form class="controls" onSubmit={(e) => e.preventDefault()}>
      <ModelSelect label="left" value={a} onChange={(m) => navigate(`#/compare/${m}/${b}`)} />
      <ModelSelect label="right" value={b} onChange={(m) => navigate(`#/compare/${a}/${m}`)} />
      <DepthInput label="depth" value={depth} onChange={setDepth} />
    </form>
  );
  if (typeof result === 'string')
    return (
      <section>
        <h1>Compare</h1>
        {picker}
        <p role="alert">{result}</p>
      </section>
    );
  const [sa, sb] = [result.a.summary, result.b.summary];
  const rowsA = rowsToDepth(sa.rows, depth);
  const rowsB = rowsToDepth(sb.rows, depth);
  const byA = new Map(rowsA.map((r) => [r.path, r]));
  const byB = new Map(rowsB.map((r) => [r.path, r]));
  const totals: [string, string, string][] = [
    ['input', sa.inputShape.join('×'), sb.inputShape.join('×')],
    ['parameters', formatCount(sa.totals.params), formatCount(sb.totals.params)],
    ['mult-adds', formatCount(sa.totals.macs), formatCount(sb.totals.macs)],
    ['receptive field', fieldText(sa.totals.receptiveField), fieldText(sb.totals.receptiveField)],
    ['forward MB', (sa.totals.forwardBytes / 1e6).toFixed(2), (sb.totals.forwardBytes / 1e6).toFixed(2)],
    ['layers called', String(sa.rows.length), String(sb.rows.length)],
  ];
  const paths = mergedPaths(rowsA, rowsB);
  const cell = (s: Side | null, other: Side | null, key: keyof Side) => {
    if (s === null) return <td class="absent">—</td>;
    const value = s[key];
    const differs = other !== null && other[key] !== value;
    return (
      <td
        class={`${typeof value === 'number' ? 'num' : ''}${differs ? ' differs' : ''}`}
        data-differs={differs || undefined}
      >
        {typeof value === 'number' ? (value > 0 ? formatCount(value) : '--') : value}
      </td>
    );
  };
  return (
    <section>
      <h1>
        Compare {a} and {b}
      </h1>
      {picker}
      <table class="data" data-testid="compare-totals">
        <thead>
          <tr>
            <th scope="col">total</th>
            <th scope="col">{a}</th>
            <th scope="col">{b}</th>
          </tr>
        </thead>
        <tbody>
          {totals.map(([what, x, y]) => (
            <tr key={what} class={x !== y ? 'differs-row' : ''}>
              <th scope="row">{what}</th>
              <td class={`num${x !== y ? ' differs' : ''}`}>{x}</td>
              <td class={`num${x !== y ? ' differs' : ''}`}>{y}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="hint">Layers matched by path; highlighted cells differ, a dash marks a layer only one model has.</p>
      <table class="data" data-testid="compare-layers">
        <thead>
          <tr>
            <th scope="col">path</th>
            {[a, b].map((m) =>
              ['type', 'kernel/stride', 'output', 'params', 'mult-adds'].map((h) => (
                <th key={`${m}${h}`} scope="col">
                  {m} {h}
                </th>
              )),
            )}
          </tr>
        </thead>
        <tbody>
          {paths.map((p) => {
            const [x, y] = [side(byA.get(p), depth), side(byB.get(p), depth)];
            const status =
              x === null
                ? 'only-b'
                : y === null
                  ? 'only-a'
                  : JSON.stringify(x) === JSON.stringify(y)
                    ? 'same'
                    : 'differs';
            return (
              <tr key={p} data-path={p} data-status={status} class={status}>
                <th scope="row">{p || '(model)'}</th>
                {(['type', 'window', 'shape', 'params', 'macs'] as const).map((k) => cell(x, y, k))}
                {(['type', 'window', 'shape', 'params', 'macs'] as const).map((k) => cell(y, x, k))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
