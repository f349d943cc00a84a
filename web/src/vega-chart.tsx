/** A Vega spec drawn as SVG in the page: the same specs the command line renders to files. */
import { useEffect, useRef } from 'preact/hooks';
import { parse, View, type Spec } from 'vega';

export function VegaChart({ spec, label }: { spec: Spec; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const view = new View(parse(spec), { renderer: 'svg', container: ref.current, hover: true });
    // The container carries the chart's name; the marks inside are decoration to a screen reader.
    void view.runAsync().then(() => ref.current?.querySelector('svg')?.setAttribute('aria-hidden', 'true'));
    return () => view.finalize();
  }, [spec]);
  return <div class="chart" ref={ref} role="img" aria-label={label} />;
}
