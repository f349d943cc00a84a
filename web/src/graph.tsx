/** The architecture graph drawn as SVG from its layout (layout.ts). */
import { type GraphLayout, hasNumbers, NODE, nodeHeight, type PlacedNode } from './layout.js';
import { bytesText, countText, fieldText, shapeText } from './numbers.js';

const FILL: Record<string, string> = {
  Conv2d: '#dbeafe',
  Linear: '#ede9fe',
  BatchNorm2d: '#f1f5f9',
  MaxPool2d: '#dcfce7',
  AvgPool2d: '#dcfce7',
  AdaptiveAvgPool2d: '#dcfce7',
  LocalResponseNorm: '#fef9c3',
};

const fillOf = (n: PlacedNode): string =>
  n.toggle?.kind === 'unfold' ? '#ffedd5' : n.row ? (FILL[n.row.type] ?? '#ffffff') : '#f8fafc';

function Node({ n, onToggle }: { n: PlacedNode; onToggle: (n: PlacedNode) => void }) {
  const h = nodeHeight(n);
  const x = n.x - NODE.width / 2;
  const y = n.y - h / 2;
  const lines = hasNumbers(n)
    ? [
        `${shapeText(n.shape)}`,
        `${countText(n.params)} params · ${countText(n.macs)} MACs`,
        `RF ${fieldText(n.field)} · ${bytesText(n.bytes)}`,
      ]
    : [shapeText(n.shape)];
  // The accessible name is the node's own text (title, action word, numbers), as a reader sees it.
  const props = n.toggle
    ? {
        role: 'button' as const,
        tabIndex: 0,
        'data-action': n.toggle.kind,
        onClick: () => onToggle(n),
        onKeyDown: (ev: KeyboardEvent) => {
          if (ev.key === 'Enter' || ev.key === ' ') onToggle(n);
        },
        class: 'node toggle',
      }
    : { class: 'node' };
  return (
    <g {...props} data-node={n.id} data-call={n.row?.index} data-title={n.title}>
      <rect x={x} y={y} width={NODE.width} height={h} rx={6} fill={fillOf(n)} stroke="#475569" />
      <text x={x + 8} y={y + 15} class="node-title">
        {n.short}
        <tspan class="node-type"> {n.subtitle}</tspan>
        {n.toggle ? <tspan class="node-action"> {n.toggle.kind === 'unfold' ? '+ unfold' : '+ towers'}</tspan> : null}
      </text>
      {lines.map((l, i) => (
        <text key={l} x={x + 8} y={y + 31 + 14 * i} class="node-line">
          {l}
        </text>
      ))}
    </g>
  );
}

export function GraphView({
  layout,
  onToggle,
  onFold,
}: {
  layout: GraphLayout;
  onToggle: (n: PlacedNode) => void;
  onFold: (call: number) => void;
}) {
  return (
    <svg
      class="graph"
      width={layout.width}
      height={layout.height}
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      role="img"
      aria-label="architecture graph"
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
        </marker>
      </defs>
      {layout.clusters.map((c) => (
        <g key={c.id} class="cluster" data-cluster={c.call}>
          <rect x={c.x - c.width / 2} y={c.y - c.height / 2} width={c.width} height={c.height} rx={8} />
          {/* biome-ignore lint/a11y/useSemanticElements: SVG has no <button>; the text takes focus and keys itself */}
          <text
            x={c.x - c.width / 2 + 8}
            y={c.y - c.height / 2 + 16}
            class="cluster-title toggle"
            role="button"
            tabIndex={0}
            data-action="fold"
            data-title={c.title.split(' · ')[0]}
            onClick={() => onFold(c.call)}
            onKeyDown={(ev: KeyboardEvent) => {
              if (ev.key === 'Enter' || ev.key === ' ') onFold(c.call);
            }}
          >
            − fold {c.short}
          </text>
        </g>
      ))}
      {layout.edges.map((e) => (
        <g key={`${e.from}>${e.to}`} class="edge" data-edge={`${e.from}>${e.to}`}>
          <title>{shapeText(e.shape)}</title>
          <polyline points={e.points.map((p) => `${p.x},${p.y}`).join(' ')} marker-end="url(#arrow)" />
          {e.label ? (
            <text x={e.label.x} y={e.label.y + 4} class="edge-label">
              {shapeText(e.shape)}
            </text>
          ) : null}
        </g>
      ))}
      {layout.nodes.map((n) => (
        <Node key={n.id} n={n} onToggle={onToggle} />
      ))}
    </svg>
  );
}
