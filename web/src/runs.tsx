/** Training runs from the server's --runs folder: a list, and a run's curves (the chart `convkit train` writes). Needs the server. */
import { useEffect, useState } from 'preact/hooks';
import { trainingChartSpec, type CurvePoint } from '../../src/cli/training-chart.js';
import type { Route } from './main.js';
import { VegaChart } from './vega-chart.js';

interface RunDetail {
  name: string;
  config: { epochs?: number; model?: string } | null;
  metrics: CurvePoint[];
  files: string[];
}

function useJson<T>(url: string): T | string | null {
  const [value, setValue] = useState<T | string | null>(null);
  useEffect(() => {
    setValue(null);
    fetch(url)
      .then(async (r) => {
        const body = (await r.json()) as T & { error?: string };
        setValue(r.ok ? body : (body.error ?? `HTTP ${r.status}`));
      })
      .catch(() => setValue('the runs need the server (convkit serve); a static export has none'));
  }, [url]);
  return value;
}

export function RunsView({ route }: { route: Route }) {
  const run = route.args[0];
  return run ? <Run name={run} /> : <RunList />;
}

function RunList() {
  const runs = useJson<{ name: string }[]>('api/runs');
  return (
    <section>
      <h1>Runs</h1>
      {runs === null ? <p>loading…</p> : typeof runs === 'string' ? <p role="alert">{runs}</p> : null}
      {Array.isArray(runs) && runs.length === 0 ? (
        <p>No runs in the server's --runs folder yet (convkit train writes them).</p>
      ) : null}
      <ul>
        {Array.isArray(runs)
          ? runs.map((r) => (
              <li key={r.name}>
                <a href={`#/runs/${encodeURIComponent(r.name)}`}>{r.name}</a>
              </li>
            ))
          : null}
      </ul>
    </section>
  );
}

function Run({ name }: { name: string }) {
  const run = useJson<RunDetail>(`api/runs/${encodeURIComponent(name)}`);
  if (run === null) return <p>loading…</p>;
  if (typeof run === 'string') return <p role="alert">{run}</p>;
  const epochs = run.config?.epochs ?? run.metrics.length;
  return (
    <section>
      <h1>Run {run.name}</h1>
      {run.metrics.length > 0 ? (
        <VegaChart
          spec={trainingChartSpec(run.metrics, run.name, Math.max(1, epochs))}
          label={`training curves of ${run.name}`}
        />
      ) : (
        <p>No finished epoch yet.</p>
      )}
      <h2>Files</h2>
      <ul>
        {run.files.map((f) => (
          <li key={f}>
            <a href={`api/runs/${encodeURIComponent(run.name)}/files/${encodeURIComponent(f)}`}>{f}</a>
          </li>
        ))}
      </ul>
    </section>
  );
}
