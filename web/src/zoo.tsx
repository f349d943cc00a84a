/** The zoo: every registry model with its computed parameters and MACs and its published result, as a table and as the efficiency chart. */
import { useMemo, useState } from 'preact/hooks';
import { publishedResult } from '../../src/analysis/zoo.js';
import { efficiencySpec, modelPoints } from '../../src/experiments/efficiency.js';
import { MODELS, totalsOf } from './convkit.js';
import { formatCount } from './numbers.js';
import { VegaChart } from './vega-chart.js';

const FAMILIES = [...new Set(MODELS.map((m) => m.family))];

export function ZooView() {
  const [family, setFamily] = useState('all');
  const entries = MODELS.filter((m) => family === 'all' || m.family === family);
  const spec = useMemo(() => {
    const names = new Set(entries.map((e) => e.name));
    return efficiencySpec(modelPoints(totalsOf).filter((p) => names.has(p.model)));
  }, [family]);
  return (
    <section>
      <h1>Model zoo</h1>
      <label>
        Family{' '}
        <select value={family} onChange={(e) => setFamily((e.target as HTMLSelectElement).value)} data-testid="family">
          <option value="all">all</option>
          {FAMILIES.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
      </label>
      <VegaChart spec={spec} label="ImageNet top-1 against multiply-adds, area = parameters" />
      <table class="data" data-testid="zoo-table">
        <thead>
          <tr>
            <th scope="col">model</th>
            <th scope="col">family</th>
            <th scope="col">layout</th>
            <th scope="col">input</th>
            <th scope="col" class="num">
              parameters
            </th>
            <th scope="col" class="num">
              MACs
            </th>
            <th scope="col">published</th>
            <th scope="col">idea</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((m) => {
            const t = totalsOf(m);
            return (
              <tr key={m.name} data-model={m.name}>
                <td>
                  <a href={`#/model/${m.name}`}>{m.name}</a>
                </td>
                <td>{m.family}</td>
                <td>{m.layout}</td>
                <td>{m.input.join('x')}</td>
                <td class="num" data-field="params">
                  {formatCount(t.params)}
                </td>
                <td class="num" data-field="macs">
                  {formatCount(t.macs)}
                </td>
                <td>{publishedResult(m)}</td>
                <td class="idea">{m.idea}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
