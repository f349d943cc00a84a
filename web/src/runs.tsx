/**
 * Training runs from the server's --runs folder: a list, and a run's curves (the chart `convkit
 * train` writes), updated live from the run's event stream while `convkit train` writes epochs.
 * Needs the server.
 */
import { RUN_FILES } from '../../src/cli/run-files.js';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { trainingChartSpec, type CurvePoint } from '../../src/cli/training-chart.js';
import type { Route } from './main.js';
import { VegaChart } from './vega-chart.js';

interface RunDetail {
  name: string;
  config: { epochs?: number; model?: string } | null;
  files: string[];
}

export function useJson<T>(url: string): T | string | null {
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

/** What a list from the API shows before or instead of its items: loading, the error, or that it is empty. */
export function ListStatus({ list, empty }: { list: unknown[] | string | null; empty: string }) {
  if (list === null) return <p>loading…</p>;
  if (typeof list === 'string') return <p role="alert">{list}</p>;
  return list.length === 0 ? <p>{empty}</p> : null;
}

function RunList() {
  const runs = useJson<{ name: string }[]>('api/runs');
  return (
    <section>
      <h1>Runs</h1>
      <ListStatus list={runs} empty="No runs in the server's --runs folder yet (convkit train writes them)." />
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

type Connection = 'connecting' | 'live' | 'reconnecting';

/**
 * The run's metrics rows by epoch, from its event stream: every row on connecting, then each new
 * one; a `reset` (the file was truncated, a run started again) clears them. Rows are keyed by
 * epoch, so the rows a reconnect sends again replace themselves.
 */
function useLiveMetrics(name: string): { rows: CurvePoint[]; connection: Connection } {
  const [rows, setRows] = useState<Map<number, CurvePoint>>(new Map());
  const [connection, setConnection] = useState<Connection>('connecting');
  useEffect(() => {
    setRows(new Map());
    const source = new EventSource(`api/runs/${encodeURIComponent(name)}/events`);
    source.onopen = () => setConnection('live');
    source.onerror = () => setConnection('reconnecting');
    source.addEventListener('reset', () => setRows(new Map()));
    source.addEventListener('metrics', (e) => {
      const row = JSON.parse((e as MessageEvent<string>).data) as CurvePoint;
      setConnection('live');
      setRows((old) => new Map(old).set(row.epoch, row));
    });
    return () => source.close();
  }, [name]);
  return { rows: [...rows.values()].sort((a, b) => a.epoch - b.epoch), connection };
}

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: 'connecting…',
  live: 'live: new epochs appear as convkit train writes them',
  reconnecting: 'not live: the server does not answer; retrying',
};

function Run({ name }: { name: string }) {
  const run = useJson<RunDetail>(`api/runs/${encodeURIComponent(name)}`);
  const detail = run !== null && typeof run !== 'string' ? run : null;
  const { rows, connection } = useLiveMetrics(name);
  const epochs = Math.max(1, detail?.config?.epochs ?? 0, rows.length);
  const spec = useMemo(() => trainingChartSpec(rows, name, epochs), [rows, name, epochs]);
  if (run === null) return <p>loading…</p>;
  if (typeof run === 'string') return <p role="alert">{run}</p>;
  return (
    <section>
      <h1>Run {run.name}</h1>
      {run.files.includes(RUN_FILES.checkpoint) && (
        <p>
          <a href={`#/run/${encodeURIComponent(run.name)}`}>Run it</a>: the trained model on a test sample, a drawing or
          your own image, with every layer's activations.
        </p>
      )}
      <p role="status" class={`live ${connection}`} data-testid="live">
        {CONNECTION_TEXT[connection]}
      </p>
      {rows.length > 0 ? (
        <VegaChart spec={spec} label={`training curves of ${run.name}, ${rows.length} epochs`} />
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
