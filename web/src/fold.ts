/**
 * Which nodes and edges the graph shows for a fold state. A folded call is one node carrying its
 * summary row (its whole subtree's parameters and MACs); an unfolded one is a box around what it
 * contains. A grouped convolution can be split into its towers (the two GPUs of the 2012 AlexNet).
 */
import type { Dataflow, FlowNode } from '../../src/analysis/dataflow.js';
import type { ReceptiveField } from '../../src/analysis/receptive-field.js';
import type { LayerRow } from '../../src/analysis/summary.js';

export interface ShownNode {
  id: string;
  /** The summary row (layers and folded blocks); null for input, output and container ops. */
  row: LayerRow | null;
  title: string;
  /** The title without the path of the box it sits in ('conv1' inside 'layer1.0'). */
  short: string;
  subtitle: string;
  shape: number[];
  params: number;
  macs: number;
  field: ReceptiveField | null;
  bytes: number;
  /** The call that unfolds (folded blocks) or that splits into towers (grouped convolutions). */
  toggle: { call: number; kind: 'unfold' | 'towers' } | null;
  /** The box it sits in ('g<call>'), if any. */
  cluster: string | null;
}

export interface ShownEdge {
  from: string;
  to: string;
  shape: number[];
}

export interface ShownCluster {
  id: string;
  call: number;
  title: string;
  /** The title without the path of the enclosing box. */
  short: string;
  parent: string | null;
}

export interface ShownGraph {
  nodes: ShownNode[];
  edges: ShownEdge[];
  clusters: ShownCluster[];
}

const PLAIN_CONTAINERS = new Set(['Sequential', 'ModuleList']);

/**
 * Blocks folded when a model opens: every call that ran other modules, except the model and the
 * plain containers that hold blocks or more than four layers (AlexNet's features, ResNet's
 * stages); a conv-BN-ReLU Sequential stays one node.
 */
export function defaultFolded(rows: readonly LayerRow[]): Set<number> {
  const children = new Map<number, LayerRow[]>();
  for (const r of rows) if (r.parent !== null) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  const opens = (r: LayerRow): boolean => {
    const kids = children.get(r.index) ?? [];
    return PLAIN_CONTAINERS.has(r.type) && (kids.length > 4 || kids.some((k) => children.has(k.index)));
  };
  return new Set(rows.filter((r) => r.depth >= 1 && children.has(r.index) && !opens(r)).map((r) => r.index));
}

/** The calls that can fold: every call below the model that ran other modules. */
export function foldable(rows: readonly LayerRow[]): Set<number> {
  const hasChildren = new Set(rows.map((r) => r.parent).filter((p): p is number => p !== null));
  return new Set(rows.filter((r) => r.depth >= 1 && hasChildren.has(r.index)).map((r) => r.index));
}

const label = (r: LayerRow): string => (r.path === '' ? r.type : r.path);

export function shownGraph(
  rows: readonly LayerRow[],
  flow: Dataflow,
  folded: ReadonlySet<number>,
  towers: ReadonlySet<number> = new Set(),
): ShownGraph {
  /** Ancestors of a call from the top (the model itself excluded), the call last. */
  const chain = (call: number): number[] => {
    const out: number[] = [];
    for (let c: number | null = call; c !== null; c = flow.parent[c]) out.push(c);
    return out.reverse().slice(1);
  };
  const repOf = new Map<string, string>();
  const foldableCalls = foldable(rows);
  const clusterOf = (calls: readonly number[]): string | null => {
    const open = calls.filter((c) => !folded.has(c) && foldableCalls.has(c));
    return open.length > 0 ? `g${open[open.length - 1]}` : null;
  };
  const nodes: ShownNode[] = [];
  const clusters = new Map<string, ShownCluster>();
  const addCluster = (call: number): string => {
    const id = `g${call}`;
    if (!clusters.has(id)) {
      const up = chain(call)
        .slice(0, -1)
        .filter((c) => foldableCalls.has(c));
      clusters.set(id, {
        id,
        call,
        title: `${label(rows[call])} · ${rows[call].type}`,
        short: '',
        parent: up.length > 0 ? `g${up[up.length - 1]}` : null,
      });
      for (const c of up) addCluster(c);
    }
    return id;
  };
  const rowNode = (r: LayerRow, id: string, cluster: string | null, toggle: ShownNode['toggle']): ShownNode => ({
    id,
    row: r,
    title: label(r),
    short: '',
    subtitle: r.type,
    shape: r.outputShape ?? [],
    params: r.params,
    macs: r.macs,
    field: r.receptiveField,
    bytes: r.outputBytes,
    toggle,
    cluster,
  });
  const seen = new Set<string>();
  const towerEdges: ShownEdge[] = [];
  for (const n of flow.nodes) {
    const calls = n.call === null ? [] : chain(n.call);
    const foldedAt = calls.find((c) => folded.has(c) && foldableCalls.has(c));
    if (foldedAt !== undefined) {
      const id = `c${foldedAt}`;
      repOf.set(n.id, id);
      if (!seen.has(id)) {
        seen.add(id);
        const above = chain(foldedAt).slice(0, -1);
        const cluster = clusterOf(above);
        if (cluster) addCluster(Number(cluster.slice(1)));
        nodes.push(rowNode(rows[foldedAt], id, cluster, { call: foldedAt, kind: 'unfold' }));
      }
      continue;
    }
    const enclosing = n.kind === 'layer' ? calls.slice(0, -1) : calls;
    const cluster = clusterOf(enclosing);
    if (cluster) addCluster(Number(cluster.slice(1)));
    const row = n.kind === 'layer' && n.call !== null ? rows[n.call] : null;
    const groups = row?.window?.groups ?? 1;
    repOf.set(n.id, n.id);
    if (row && groups > 1 && towers.has(row.index)) {
      // Split into towers: each sees its share of the channels and holds its share of the weights.
      const box = addTowerBox(row, cluster);
      const share = (shape: readonly number[]): number[] => shape.map((d, i) => (i === 1 ? d / groups : d));
      for (let g = 0; g < groups; g++) {
        const id = `${n.id}/t${g}`;
        nodes.push({
          ...rowNode(row, id, box, g === 0 ? { call: row.index, kind: 'towers' } : null),
          title: `${label(row)} tower ${g + 1}`,
          shape: share(row.outputShape ?? []),
          params: row.params / groups,
          macs: row.macs / groups,
          bytes: row.outputBytes / groups,
        });
        towerEdges.push({ from: `${n.id}/in`, to: id, shape: share(row.inputShape ?? []) });
        towerEdges.push({ from: id, to: `${n.id}/out`, shape: share(row.outputShape ?? []) });
      }
      continue;
    }
    if (row) {
      const toggle = groups > 1 ? ({ call: row.index, kind: 'towers' } as const) : null;
      nodes.push(rowNode(row, n.id, cluster, toggle));
    } else nodes.push(opNode(n, cluster));
  }
  // Tower boxes get an entry and an exit point standing for the split and the concatenation.
  function addTowerBox(row: LayerRow, parent: string | null): string {
    const id = `g${row.index}`;
    clusters.set(id, {
      id,
      call: row.index,
      title: `${label(row)} · ${row.type} in ${row.window?.groups} towers`,
      short: '',
      parent,
    });
    const base = `c${row.index}`;
    for (const [end, title, shape] of [
      ['in', 'split', row.inputShape],
      ['out', 'concat', row.outputShape],
    ] as const)
      nodes.push(
        opNode(
          { id: `${base}/${end}`, op: title, outputShape: shape ?? [], macs: 0, outputBytes: 0, receptiveField: null },
          id,
        ),
      );
    return id;
  }
  const edges: ShownEdge[] = [...towerEdges];
  const keys = new Set<string>();
  const ids = new Set(nodes.map((n) => n.id));
  const endOf = (id: string, side: 'in' | 'out'): string => (ids.has(`${id}/${side}`) ? `${id}/${side}` : id);
  for (const e of flow.edges) {
    const from = endOf(repOf.get(e.from) ?? e.from, 'out');
    const to = endOf(repOf.get(e.to) ?? e.to, 'in');
    const key = `${from}>${to}`;
    if (from === to || keys.has(key)) continue;
    keys.add(key);
    edges.push({ from, to, shape: e.shape });
  }
  const pathOf = (cluster: string | null): string => (cluster === null ? '' : rows[Number(cluster.slice(1))].path);
  const within = (text: string, cluster: string | null): string => {
    const prefix = `${pathOf(cluster)}.`;
    return cluster !== null && text.startsWith(prefix) ? text.slice(prefix.length) : text;
  };
  for (const n of nodes) n.short = within(n.title, n.cluster);
  for (const c of clusters.values()) c.short = within(c.title, c.parent);
  return { nodes, edges, clusters: [...clusters.values()] };
}

function opNode(
  n: Pick<FlowNode, 'id' | 'op' | 'outputShape' | 'macs' | 'outputBytes' | 'receptiveField'> & {
    kind?: FlowNode['kind'];
  },
  cluster: string | null,
): ShownNode {
  const title = n.kind === 'input' ? 'input' : n.kind === 'output' ? 'output' : (n.op ?? 'op');
  return {
    id: n.id,
    row: null,
    title,
    short: title,
    subtitle: n.kind === 'input' || n.kind === 'output' ? '' : 'op',
    shape: n.outputShape,
    params: 0,
    macs: n.macs,
    field: n.receptiveField,
    bytes: n.outputBytes,
    toggle: null,
    cluster,
  };
}
