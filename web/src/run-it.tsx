/**
 * "Run it" (#/run/<run>): a model trained by `convkit train` run in the page on convkit's
 * reference backend (engine.ts) with its checkpoint's weights: an image from a test sample, a
 * drawing or a file; the five most probable classes; every layer's activation maps; and one
 * conv, ReLU or pooling unit explained (run-it-unit.tsx). Needs the server (the run's files).
 */
import { useEffect, useState } from 'preact/hooks';
import { EXPLAINED_OPS, type LayerActivation, topClasses } from './engine.js';
import { openRun, type RunEngine } from './engine-client.js';
import type { Unit } from './engine-unit.js';
import type { Route } from './main.js';
import { InputChooser, InputPreview, type PickedInput } from './run-it-input.js';
import { ActivationMaps } from './run-it-maps.js';
import { UnitDetail } from './run-it-unit.js';
import { ListStatus, useJson } from './runs.js';
import './run-it.css';

export function RunItView({ route }: { route: Route }) {
  const run = route.args[0];
  return run ? <RunIt name={run} /> : <RunChooser />;
}

function RunChooser() {
  const runs = useJson<{ name: string }[]>('api/runs');
  return (
    <section>
      <h1>Run it</h1>
      <p>Pick a run of convkit train: its model runs here in the page on convkit's reference backend.</p>
      <ListStatus list={runs} empty="No runs in the server's --runs folder yet (convkit train writes them)." />
      <ul>
        {Array.isArray(runs)
          ? runs.map((r) => (
              <li key={r.name}>
                <a href={`#/run/${encodeURIComponent(r.name)}`}>{r.name}</a>
              </li>
            ))
          : null}
      </ul>
    </section>
  );
}

interface Result {
  input: PickedInput;
  top: ReturnType<typeof topClasses>;
  /** Milliseconds of the inference pass (fused, as convkit predict runs it). */
  ms: number;
  layers: LayerActivation[];
}

interface Selected {
  layer: LayerActivation;
  unit: Unit;
}

function RunIt({ name }: { name: string }) {
  const [run, setRun] = useState<RunEngine | string | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [selected, setSelected] = useState<Selected | null>(null);
  const [busy, setBusy] = useState<{ text: string; failed: boolean } | null>(null);
  useEffect(() => {
    setRun(null);
    setResult(null);
    setSelected(null);
    let engine: RunEngine | null = null;
    let gone = false;
    openRun(name).then(
      (e) => {
        engine = e;
        if (gone) e.close();
        else setRun(e);
      },
      (err: Error) => setRun(`cannot load run '${name}': ${err.message}`),
    );
    return () => {
      gone = true;
      engine?.close();
    };
  }, [name]);
  if (run === null) return <p>loading the run's model and weights…</p>;
  if (typeof run === 'string') return <p role="alert">{run}</p>;
  const go = async (input: PickedInput): Promise<void> => {
    setBusy({ text: `running ${input.source}…`, failed: false });
    try {
      const r = await run.run(input.pixels);
      // The measures are what `npm run bench:explorer` reads (scripts/bench-explorer.ts); the passes ran in the worker.
      const now = performance.now();
      performance.measure('convkit:run-it-forward', { start: now - r.forwardMs, duration: r.forwardMs });
      performance.measure('convkit:run-it-trace', { start: now - r.traceMs, duration: r.traceMs });
      setResult({ input, top: topClasses(run.config, r.probabilities, 5), ms: r.forwardMs, layers: r.layers });
      setSelected(null);
      setBusy(null);
    } catch (err) {
      setBusy({ text: `${input.source}: ${(err as Error).message}`, failed: true });
    }
  };
  const { config } = run;
  return (
    <section class="run-it">
      <h1>Run it: {name}</h1>
      <p>
        {config.model} trained on {config.data}: input {config.input.join('×')}, {config.classes.length} classes. It
        runs here, on convkit's reference backend, with the weights of the run's checkpoint.
      </p>
      <InputChooser run={name} config={config} onPick={(p) => void go(p)} />
      {busy ? (
        <p role={busy.failed ? 'alert' : 'status'} data-testid="busy">
          {busy.text}
        </p>
      ) : null}
      {result ? (
        <>
          <h2>Prediction</h2>
          <div class="prediction">
            <InputPreview
              pixels={result.input.pixels}
              shape={config.input}
              label={`the input: ${result.input.source}`}
              big
            />
            <table data-testid="top5">
              <caption>
                {result.input.source}: the five most probable classes ({result.ms.toFixed(1)} ms)
              </caption>
              <thead>
                <tr>
                  <th scope="col">class</th>
                  <th scope="col">probability</th>
                </tr>
              </thead>
              <tbody>
                {result.top.map((t) => (
                  <tr key={t.label} data-label={t.label} data-probability={t.probability}>
                    <td>{t.name}</td>
                    <td class="num">{(100 * t.probability).toFixed(2)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="body">
            <div>
              <h2>Activations</h2>
              <ActivationMaps
                layers={result.layers}
                explainable={(l) => EXPLAINED_OPS.has(l.op)}
                onPick={(layer, unit) => setSelected({ layer, unit })}
              />
            </div>
            <aside>
              {selected ? (
                <UnitDetail
                  layer={selected.layer}
                  unit={selected.unit}
                  onUnit={(unit) => setSelected({ layer: selected.layer, unit })}
                />
              ) : (
                <p>Click a map of a convolution, ReLU or pooling layer to see how one of its units is computed.</p>
              )}
            </aside>
          </div>
        </>
      ) : null}
    </section>
  );
}
