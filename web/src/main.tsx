/** The explorer page: a hash router over the views (docs/explorer.md). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { CalculatorsView } from './calculators.js';
import { CompareView } from './compare.js';
import { ModelView } from './model-view.js';
import { ReportsView } from './reports.js';
import { FieldView } from './rf-view.js';
import { RunsView } from './runs.js';
import { ZooView } from './zoo.js';
import './style.css';

export interface Route {
  view: string;
  args: string[];
  query: URLSearchParams;
}

function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const [view = 'zoo', ...args] = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  return { view, args, query: new URLSearchParams(query) };
}

export const navigate = (hash: string): void => {
  window.location.hash = hash;
};

const VIEWS = [
  ['zoo', 'Zoo'],
  ['model', 'Model'],
  ['compare', 'Compare'],
  ['field', 'Receptive field'],
  ['calc', 'Calculators'],
  ['runs', 'Runs'],
  ['reports', 'Reports'],
] as const;

function App() {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onHash = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const view = (() => {
    switch (route.view) {
      case 'model':
        return <ModelView route={route} />;
      case 'compare':
        return <CompareView route={route} />;
      case 'field':
        return <FieldView route={route} />;
      case 'calc':
        return <CalculatorsView />;
      case 'runs':
        return <RunsView route={route} />;
      case 'reports':
        return <ReportsView route={route} />;
      default:
        return <ZooView />;
    }
  })();
  return (
    <>
      <header>
        <span class="brand">convkit explorer</span>
        <nav aria-label="views">
          {VIEWS.map(([id, title]) => (
            <a key={id} href={`#/${id}`} aria-current={route.view === id ? 'page' : undefined}>
              {title}
            </a>
          ))}
        </nav>
      </header>
      <main>{view}</main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
