/**
 * One model: the architecture graph (blocks fold and unfold, grouped convolutions split into
 * towers) beside the per-layer table, for an input size and batch the reader sets; everything is
 * recomputed in the page on the meta backend.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { analyse, type Analysed } from './convkit.js';
import { defaultFolded, foldable, shownGraph } from './fold.js';
import { GraphView } from './graph.js';
import { type LayoutCache, layoutGraph, type PlacedNode } from './layout.js';
import { DepthInput, parseInput, ModelSelect } from './inputs.js';
import { LayerTable } from './layer-table.js';
import type { Route } from './main.js';
import { navigate } from './main.js';
import { bytesText, fieldText, formatCount } from './numbers.js';

function useAnalysis(name: string, inputText: string | null, batch: number): Analysed | string {
  return useMemo(() => {
    // scripts/bench-explorer.ts reads the measure from here to the drawn graph.
    performance.mark('convkit:model-start');
    const input = inputText === null ? undefined : parseInput(inputText);
    if (typeof input === 'string') return input;
    try {
      return analyse(name, input, batch);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }, [name, inputText, batch]);
}

export function ModelView({ route }: { route: Route }) {
  const name = route.args[0] ?? 'resnet50';
  const inputText = route.query.get('input');
  const batch = Math.max(1, Math.min(4096, Number(route.query.get('batch') ?? 1) || 1));
  const result = useAnalysis(name, inputText, batch);
  const [depth, setDepth] = useState(3);
  const go = (model: string, input: string | null, b: number): void => {
    const q = new URLSearchParams();
    if (input) q.set('input', input);
    if (b !== 1) q.set('batch', String(b));
    navigate(`#/model/${model}${q.size > 0 ? `?${q}` : ''}`);
  };
  const shownInput = inputText ?? (typeof result === 'string' ? '' : result.entry.input.join('x'));
  return (
    <section>
      <h1>{name}</h1>
      <form class="controls" onSubmit={(e) => e.preventDefault()}>
        <ModelSelect label="model" value={name} onChange={(m) => go(m, null, batch)} />
        <label>
          input (CxHxW){' '}
          <input
            name="input"
            value={shownInput}
            size={12}
            onChange={(e) => go(name, (e.target as HTMLInputElement).value, batch)}
          />
        </label>
        <label>
          batch{' '}
          <input
            name="batch"
            type="number"
            min={1}
            max={4096}
            value={batch}
            onChange={(e) => go(name, inputText, Number((e.target as HTMLInputElement).value))}
          />
        </label>
        <DepthInput label="table depth" value={depth} onChange={setDepth} />
        <a href={`#/compare/${name}/${name.endsWith('_paper') ? name.replace(/_paper$/, '') : name}`}>compare…</a>
      </form>
      {typeof result === 'string' ? (
        <p role="alert" class="error">
          {result}
        </p>
      ) : (
        <ModelBody key={`${name}|${shownInput}|${batch}`} analysed={result} depth={depth} />
      )}
    </section>
  );
}

function Totals({ analysed }: { analysed: Analysed }) {
  const t = analysed.summary.totals;
  return (
    <dl class="totals" data-testid="totals">
      <dt>parameters</dt>
      <dd data-field="params">{formatCount(t.params)}</dd>
      <dt>mult-adds</dt>
      <dd data-field="macs">{formatCount(t.macs)}</dd>
      <dt>receptive field</dt>
      <dd data-field="rf">{fieldText(t.receptiveField)}</dd>
      <dt>forward activations</dt>
      <dd data-field="bytes">{bytesText(t.forwardBytes)}</dd>
      <dt>output</dt>
      <dd>{(t.outputShape ?? []).join('×')}</dd>
    </dl>
  );
}

function ModelBody({ analysed, depth }: { analysed: Analysed; depth: number }) {
  const { summary, flow } = analysed;
  const [folded, setFolded] = useState(() => defaultFolded(summary.rows));
  const [towers, setTowers] = useState<Set<number>>(() => new Set());
  // Boxes laid out once are reused across folds (node sizes and labels are this model's and input's).
  const cache = useMemo<LayoutCache>(() => new Map(), []);
  const layout = useMemo(
    () => layoutGraph(shownGraph(summary.rows, flow, folded, towers), cache),
    [summary, flow, folded, towers, cache],
  );
  useEffect(() => {
    if (performance.getEntriesByName('convkit:model-start').length > 0)
      performance.measure('convkit:model-view', 'convkit:model-start');
    performance.clearMarks('convkit:model-start');
  }, [layout]);
  const toggle = (set: Set<number>, call: number): Set<number> => {
    const next = new Set(set);
    if (next.has(call)) next.delete(call);
    else next.add(call);
    return next;
  };
  const refold = (next: Set<number>): void => {
    performance.mark('convkit:model-start');
    setFolded(next);
  };
  const onToggle = (n: PlacedNode): void => {
    if (!n.toggle) return;
    const { call, kind } = n.toggle;
    if (kind === 'unfold') refold(toggle(folded, call));
    else setTowers((t) => toggle(t, call));
  };
  const onFold = (call: number): void => {
    if (towers.has(call)) setTowers((t) => toggle(t, call));
    else refold(toggle(folded, call));
  };
  return (
    <>
      <Totals analysed={analysed} />
      <div class="controls">
        {(
          [
            ['unfold all', () => new Set<number>()],
            ['default folds', () => defaultFolded(summary.rows)],
            ['fold all', () => foldable(summary.rows)],
          ] as const
        ).map(([title, folds]) => (
          <button key={title} type="button" onClick={() => refold(folds())}>
            {title}
          </button>
        ))}
      </div>
      <p class="hint">
        Click an orange block to unfold it, a box's title to fold it again, a grouped convolution to split it into its
        towers. Each node: output shape; parameters and MACs (of the block when folded); receptive field size / jump;
        output memory.
      </p>
      <div class="model-panes">
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling pane takes focus so keys scroll it (axe: scrollable-region-focusable) */}
        <section class="graph-pane" data-testid="graph" tabIndex={0} aria-label="architecture graph">
          <GraphView layout={layout} onToggle={onToggle} onFold={onFold} />
        </section>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: as above */}
        <section class="table-pane" tabIndex={0} aria-label="layer table">
          <LayerTable rows={summary.rows} depth={depth} />
        </section>
      </div>
    </>
  );
}
