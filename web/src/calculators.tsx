/** The lecture's calculators as widgets: the functions `convkit calc` prints (src/analysis/calculators.ts), with the same defaults. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import {
  compareBlocks,
  compareInception,
  compareReduction,
  compareStack,
  denseBlock,
  INCEPTION_3A,
} from '../../src/analysis/calculators.js';
import { formatCount } from './numbers.js';

type Values = Record<string, number>;

interface Field {
  id: string;
  label: string;
  step?: number;
}

/** A widget: number fields, and what `compute` makes of them as labelled values (or the calculator's error). */
function Widget({
  id,
  title,
  fields,
  initial,
  compute,
}: {
  id: string;
  title: string;
  fields: readonly Field[];
  initial: Values;
  compute: (v: Values) => [string, string, number | string][];
}) {
  const [values, setValues] = useState(initial);
  let out: [string, string, number | string][] | string;
  try {
    out = compute(values);
  } catch (err) {
    out = err instanceof Error ? err.message : String(err);
  }
  return (
    <section class="widget" data-calc={id} aria-labelledby={`calc-${id}`}>
      <h2 id={`calc-${id}`}>{title}</h2>
      <form class="controls" onSubmit={(e) => e.preventDefault()}>
        {fields.map((f) => (
          <label key={f.id}>
            {f.label}{' '}
            <input
              name={f.id}
              type="number"
              step={f.step ?? 1}
              value={values[f.id]}
              onInput={(e) => setValues({ ...values, [f.id]: Number((e.target as HTMLInputElement).value) })}
            />
          </label>
        ))}
      </form>
      {typeof out === 'string' ? (
        <p role="alert" class="error">
          {out}
        </p>
      ) : (
        <dl class="results">
          {out.map(([key, label, value]) => (
            <Pair key={key} id={key} label={label}>
              {typeof value === 'number' ? formatCount(value) : value}
            </Pair>
          ))}
        </dl>
      )}
    </section>
  );
}

const Pair = ({ id, label, children }: { id: string; label: string; children: ComponentChildren }) => (
  <>
    <dt>{label}</dt>
    <dd data-field={id}>{children}</dd>
  </>
);

const ratio = (r: number): string => `${r.toFixed(2)}x`;

export function CalculatorsView() {
  const a = INCEPTION_3A;
  return (
    <section>
      <h1>Calculators</h1>
      <p class="hint">
        The numbers of <code>convkit calc</code>, recomputed as you type.
      </p>
      <div class="widgets">
        <Widget
          id="stack"
          title="Stacked small kernels against one large kernel"
          fields={[
            { id: 'kernel', label: 'kernel' },
            { id: 'count', label: 'stacked' },
            { id: 'channels', label: 'channels' },
          ]}
          initial={{ kernel: 3, count: 2, channels: 128 }}
          compute={(v) => {
            const c = compareStack({ kernel: v.kernel, count: v.count, channels: v.channels });
            return [
              ['receptiveField', 'receptive field', `${c.receptiveField}x${c.receptiveField}`],
              ['stacked.params', `${c.count} stacked ${c.kernel}x${c.kernel}: parameters`, c.stacked.params],
              ['single.params', `one ${c.single.kernel}x${c.single.kernel}: parameters`, c.single.params],
              ['ratio', 'one large / stacked', ratio(c.ratio)],
              [
                'stacked.nonlinearities',
                'ReLUs stacked / single',
                `${c.stacked.nonlinearities} / ${c.single.nonlinearities}`,
              ],
            ];
          }}
        />
        <Widget
          id="bottleneck"
          title="1x1 reduction before a convolution"
          fields={[
            { id: 'in', label: 'in' },
            { id: 'reduce', label: 'reduce to' },
            { id: 'out', label: 'out' },
            { id: 'kernel', label: 'kernel' },
          ]}
          initial={{ in: 128, reduce: 32, out: 128, kernel: 3 }}
          compute={(v) => {
            const c = compareReduction({ inChannels: v.in, reduced: v.reduce, outChannels: v.out, kernel: v.kernel });
            return [
              ['direct.params', 'direct: parameters', c.direct.params],
              ['withReduction.reduceParams', '1x1 reduction', c.withReduction.reduceParams],
              ['withReduction.convParams', `${c.kernel}x${c.kernel} after it`, c.withReduction.convParams],
              ['withReduction.params', 'with reduction: parameters', c.withReduction.params],
              ['ratio', 'direct / with reduction', ratio(c.ratio)],
            ];
          }}
        />
        <Widget
          id="inception"
          title="Inception module with and without its 1x1 reductions"
          fields={[
            { id: 'inChannels', label: 'in' },
            { id: 'ch1x1', label: '1x1' },
            { id: 'ch3x3reduce', label: '3x3 reduce' },
            { id: 'ch3x3', label: '3x3' },
            { id: 'ch5x5reduce', label: '5x5 reduce' },
            { id: 'ch5x5', label: '5x5' },
            { id: 'poolProj', label: 'pool proj' },
          ]}
          initial={{ ...a }}
          compute={(v) => {
            const c = compareInception({
              inChannels: v.inChannels,
              ch1x1: v.ch1x1,
              ch3x3reduce: v.ch3x3reduce,
              ch3x3: v.ch3x3,
              ch5x5reduce: v.ch5x5reduce,
              ch5x5: v.ch5x5,
              poolProj: v.poolProj,
            });
            return [
              ...c.branches.map((b): [string, string, string] => [
                `branch.${b.branch}`,
                `${b.branch} branch: with / without reduction`,
                `${formatCount(b.withReduction.params)} / ${formatCount(b.withoutReduction.params)}`,
              ]),
              ['withReduction.params', 'module with reductions: parameters', c.withReduction.params],
              ['withoutReduction.params', 'naive module: parameters', c.withoutReduction.params],
              [
                'withReduction.outChannels',
                'output channels with / without',
                `${c.withReduction.outChannels} / ${c.withoutReduction.outChannels}`,
              ],
            ];
          }}
        />
        <Widget
          id="block"
          title="ResNet basic block against bottleneck"
          fields={[
            { id: 'width', label: 'width' },
            { id: 'expansion', label: 'expansion' },
            { id: 'size', label: 'map size' },
          ]}
          initial={{ width: 64, expansion: 4, size: 56 }}
          compute={(v) => {
            const c = compareBlocks({ width: v.width, expansion: v.expansion, size: v.size });
            return [c.basic, c.bottleneck, c.wideBasic].flatMap((b, i): [string, string, number][] => {
              const key = ['basic', 'bottleneck', 'wideBasic'][i];
              return [
                [`${key}.params`, `${b.name} (${b.inChannels} -> ${b.outChannels}): parameters`, b.params],
                [`${key}.macs`, `${b.name}: mult-adds`, b.macs],
              ];
            });
          }}
        />
        <Widget
          id="dense"
          title="DenseNet growth and transition"
          fields={[
            { id: 'in', label: 'in' },
            { id: 'growth', label: 'growth k' },
            { id: 'layers', label: 'layers' },
            { id: 'bottleneck', label: 'bottleneck factor' },
            { id: 'compression', label: 'compression', step: 0.05 },
          ]}
          initial={{ in: 64, growth: 32, layers: 6, bottleneck: 4, compression: 0.5 }}
          compute={(v) => {
            const c = denseBlock({
              inChannels: v.in,
              growthRate: v.growth,
              layers: v.layers,
              bottleneckFactor: v.bottleneck,
              compression: v.compression,
            });
            return [
              ['outChannels', 'channels after the block', c.outChannels],
              ['blockParams', 'block parameters', c.blockParams],
              ['transition.outChannels', 'channels after the transition', c.transition.outChannels],
              ['transition.params', 'transition parameters', c.transition.params],
              ['growth', 'channels seen by each layer', c.layers.map((l) => l.inChannels).join(', ')],
            ];
          }}
        />
      </div>
    </section>
  );
}
