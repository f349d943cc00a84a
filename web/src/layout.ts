/** Where the shown nodes, boxes and edges go: @dagrejs/dagre, top to bottom, boxes as compound nodes. */
import dagre from '@dagrejs/dagre';
import type { ShownCluster, ShownEdge, ShownGraph, ShownNode } from './fold.js';
import { shapeText } from './numbers.js';

/** Layers, blocks and ops show four lines; the input and output nodes only their shape. */
export const hasNumbers = (n: ShownNode): boolean => n.row !== null || n.subtitle === 'op';
export const nodeHeight = (n: ShownNode): number => (hasNumbers(n) ? NODE.height : 44);

export const NODE = { width: 230, height: 78 } as const;

export interface PlacedNode extends ShownNode {
  x: number;
  y: number;
}
export interface PlacedEdge extends ShownEdge {
  points: { x: number; y: number }[];
  /** Where the shape is written; null for an edge into a wide concatenation (its shape shows on hover). */
  label: { x: number; y: number } | null;
}
export interface PlacedCluster extends ShownCluster {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface GraphLayout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  clusters: PlacedCluster[];
  width: number;
  height: number;
}

/** Inputs of a concatenation beyond which its edges carry no label box (DenseNet's fan-ins). */
const LABELLED_FAN_IN = 4;

export function layoutGraph(shown: ShownGraph): GraphLayout {
  const fanIn = new Map<string, number>();
  for (const e of shown.edges) fanIn.set(e.to, (fanIn.get(e.to) ?? 0) + 1);
  // A label is a node to dagre: hundreds of them across many ranks make the layout slow and wide.
  const labelled = (e: ShownEdge): boolean => (fanIn.get(e.to) ?? 0) <= LABELLED_FAN_IN;
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 44, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const c of shown.clusters) g.setNode(c.id, { label: c.title, paddingTop: 28 });
  for (const c of shown.clusters) if (c.parent) g.setParent(c.id, c.parent);
  for (const n of shown.nodes) {
    g.setNode(n.id, { width: NODE.width, height: nodeHeight(n) });
    if (n.cluster) g.setParent(n.id, n.cluster);
  }
  for (const e of shown.edges)
    g.setEdge(
      e.from,
      e.to,
      labelled(e) ? { width: 8 * shapeText(e.shape).length, height: 14, labelpos: 'c' } : { width: 0, height: 0 },
    );
  dagre.layout(g);
  const graph = g.graph();
  return {
    nodes: shown.nodes.map((n) => ({ ...n, x: g.node(n.id).x, y: g.node(n.id).y })),
    edges: shown.edges.map((e) => {
      const d = g.edge(e.from, e.to) as { points: { x: number; y: number }[]; x: number; y: number };
      return { ...e, points: d.points, label: labelled(e) ? { x: d.x, y: d.y } : null };
    }),
    clusters: shown.clusters.map((c) => {
      const d = g.node(c.id);
      return { ...c, x: d.x, y: d.y, width: d.width, height: d.height };
    }),
    width: graph.width ?? 0,
    height: graph.height ?? 0,
  };
}
