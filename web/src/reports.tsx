/**
 * The experiment reports from the server's --experiments folder (what `convkit experiment`
 * writes): a list with each verdict, and a report with its claims, what was measured, the verdict
 * per claim, and its report.md rendered as HTML (markdown-it with raw HTML off, so the text can
 * add no markup of its own; the charts it names load from the report's files). Needs the server.
 */
import { verdictWord } from '../../src/experiments/types.js';
import type { Route } from './main.js';
import { reportHtml } from './report-markdown.js';
import { ListStatus, useJson } from './runs.js';

interface Claim {
  id: string;
  claim: string;
  measured: string;
  held: boolean | null;
}

interface Report {
  name: string;
  title: string;
  mode: string | null;
  date: string | null;
  verdict: boolean | null;
  claims: Claim[];
  notRun: string[];
  charts: { file: string; caption: string }[];
  markdown: string | null;
}

function Verdict({ held }: { held: boolean | null }) {
  return <span class={`verdict ${held === null ? 'untested' : held ? 'held' : 'failed'}`}>{verdictWord(held)}</span>;
}

export function ReportsView({ route }: { route: Route }) {
  const name = route.args[0];
  return name ? <ReportPage name={name} /> : <ReportList />;
}

function ReportList() {
  const reports = useJson<{ name: string; title: string; verdict: boolean | null }[]>('api/reports');
  return (
    <section>
      <h1>Experiment reports</h1>
      <ListStatus
        list={reports}
        empty="No reports in the server's --experiments folder yet (convkit experiment writes them)."
      />
      <ul>
        {Array.isArray(reports)
          ? reports.map((r) => (
              <li key={r.name}>
                <a href={`#/reports/${encodeURIComponent(r.name)}`}>{r.title}</a> (<code>{r.name}</code>):{' '}
                <Verdict held={r.verdict} />
              </li>
            ))
          : null}
      </ul>
    </section>
  );
}

function ReportPage({ name }: { name: string }) {
  const report = useJson<Report>(`api/reports/${encodeURIComponent(name)}`);
  if (report === null) return <p>loading…</p>;
  if (typeof report === 'string') return <p role="alert">{report}</p>;
  const file = (f: string): string => `api/reports/${encodeURIComponent(name)}/files/${encodeURIComponent(f)}`;
  return (
    <section>
      <h1>{report.title}</h1>
      <p>
        <code>{report.name}</code>
        {report.mode ? `, --${report.mode}` : ''}
        {report.date ? `, run ${report.date}` : ''}. Verdict: <Verdict held={report.verdict} />
      </p>
      {report.claims.length > 0 ? (
        <table data-testid="claims">
          <thead>
            <tr>
              <th scope="col">claim</th>
              <th scope="col">the lecture says</th>
              <th scope="col">this run measured</th>
              <th scope="col">verdict</th>
            </tr>
          </thead>
          <tbody>
            {report.claims.map((c) => (
              <tr key={c.id}>
                <th scope="row">{c.id}</th>
                <td>{c.claim}</td>
                <td>{c.measured}</td>
                <td>
                  <Verdict held={c.held} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {report.notRun.length > 0 ? (
        <>
          <h2>Not run</h2>
          <ul>
            {report.notRun.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </>
      ) : null}
      {report.markdown !== null ? (
        // The report itself, charts included (as <img>, which never runs what an SVG holds).
        // Safe as HTML: markdown-it with html off escapes every tag the text holds
        <article
          class="report-markdown"
          data-testid="report-markdown"
          dangerouslySetInnerHTML={{ __html: reportHtml(report.markdown, file) }}
        />
      ) : (
        report.charts.map((c) => (
          // An <img> never runs what an SVG holds; the server sends it with a CSP that runs nothing either.
          <figure key={c.file} class="report-chart">
            <img src={file(c.file)} alt={c.caption} />
            <figcaption>{c.caption}</figcaption>
          </figure>
        ))
      )}
    </section>
  );
}
