/** The chart of `convkit compare --chart`: parameters against multiply-adds, one labelled point per model. */
import { scatterChartSvg } from '../svg-chart.js';
import type { Measured } from './zoo-tables.js';

export function compareChartSvg(models: readonly Measured[]): string {
  const points = models.map(({ entry, summary }) => ({
    label: entry.name,
    x: summary.totals.macs / 1e9,
    y: summary.totals.params / 1e6,
  }));
  const batch = models[0]?.summary.batch ?? 1;
  return scatterChartSvg(points, {
    title: 'Parameters vs multiply-adds',
    xLabel: `multiply-adds per ${batch === 1 ? 'image' : `batch of ${batch}`} (GMACs)`,
    yLabel: 'parameters (millions)',
  });
}
