/** The chart of `convkit compare --chart`: parameters against multiply-adds, one labelled point per model. */
import { renderSvg, scatterSpec } from '../../experiments/charts.js';
import type { Measured } from './zoo-tables.js';

export function compareChartSvg(models: readonly Measured[]): Promise<string> {
  const points = models.map(({ entry, summary }) => ({
    label: entry.name,
    x: summary.totals.macs / 1e9,
    y: summary.totals.params / 1e6,
    size: summary.totals.forwardBytes / 2 ** 20,
    color: entry.family,
  }));
  const batch = models[0]?.summary.batch ?? 1;
  return renderSvg(
    scatterSpec('Parameters vs multiply-adds', points, {
      x: `multiply-adds per ${batch === 1 ? 'image' : `batch of ${batch}`} (GMACs)`,
      y: 'parameters (millions)',
      size: 'activations (MiB)',
      color: 'family',
    }),
  );
}
