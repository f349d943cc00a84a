/**
 * The experiment reports under `convkit serve --experiments` (default experiments/): each folder
 * that `convkit experiment` wrote (the report markdown, data.json, SVG charts) is listed with its title and
 * verdict, read as data.json's claims and charts plus the markdown as text, and its files are
 * sent through the same path checks as a run's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPORT_FILES } from '../experiments/report.js';
import { fileInside, HttpError } from './serve-http-error.js';

interface ReportData {
  title?: string;
  mode?: string;
  date?: string;
  verdict?: boolean | null;
  claims?: { id: string; claim: string; measured: string; held: boolean | null }[];
  notRun?: string[];
  charts?: { file: string; caption: string }[];
}

/** The report folders under `dir` (real folders, not symlinks, holding a report markdown or data.json). */
function listReports(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && Object.values(REPORT_FILES).some((f) => existsSync(join(dir, d.name, f))))
    .map((d) => d.name)
    .sort();
}

function reportDir(dir: string, name: string): string {
  if (!listReports(dir).includes(name)) throw new HttpError(404, `unknown experiment report '${name}' in ${dir}`);
  return fileInside(dir, [name], 'report');
}

/** data.json of a report folder; a folder with only the markdown has none. */
function readData(folder: string): ReportData {
  const path = join(folder, REPORT_FILES.data);
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ReportData;
  } catch (err) {
    throw new HttpError(500, `${path} is not JSON: ${(err as Error).message}`);
  }
}

/** GET /api/reports[/<name>[/files/<file>]]; a file is answered as `{ sendFile }`. */
export function reportsApi(dir: string, name: string | undefined, rest: readonly string[]): unknown {
  if (name === undefined)
    return listReports(dir).map((report) => {
      const data = readData(join(dir, report));
      return { name: report, title: data.title ?? report, verdict: data.verdict ?? null, date: data.date ?? null };
    });
  const folder = reportDir(dir, name);
  if (rest.length === 0) {
    const data = readData(folder);
    const md = join(folder, REPORT_FILES.markdown);
    return {
      name,
      title: data.title ?? name,
      mode: data.mode ?? null,
      date: data.date ?? null,
      verdict: data.verdict ?? null,
      claims: data.claims ?? [],
      notRun: data.notRun ?? [],
      charts: data.charts ?? [],
      markdown: existsSync(md) ? readFileSync(md, 'utf8') : null,
      files: readdirSync(folder).sort(),
    };
  }
  if (rest[0] === 'files' && rest.length === 2) return { sendFile: fileInside(folder, rest.slice(1), 'file') };
  throw new HttpError(404, `no API route /api/reports/${[name, ...rest].join('/')} (see docs/explorer.md)`);
}
