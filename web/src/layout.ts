/**
 * Where the shown nodes, boxes and edges go, top to bottom. dagre lays out one box at a time (a
 * box's content, its inner boxes as single nodes of their laid-out size), innermost first, and the
 * boxes are then placed inside one another: dagre's compound layout of a whole unfolded model took
 * a minute (DenseNet-121: 429 nodes, 66 boxes), box by box it takes a fraction of a second, and a
 * box laid out once is reused while its content stays the same (`LayoutCache`). An edge that
 * crosses box borders is routed in each box it passes (to the box's exit or from its entry, when
 * the content needs a detour, as a residual sum at the bottom of a block does) and joined up. Into
 * a node of many inputs (a dense layer's concatenation) only the edge from the nearest input is
 * laid out; the others run down a lane at the right of the box holding both ends, one lane per
 * source, instead of as hundreds of long edges dagre would have to thread between the ranks.
 */
import dagre from '@dagrejs/dagre';
import type { ShownCluster, ShownEdge, ShownGraph, ShownNode } from './fold.js';
import { shapeText } from './numbers.js';

/** Layers, blocks and ops show four lines; the input and output nodes only their shape. */
export const hasNumbers = (n: ShownNode): boolean => n.row !== null || n.subtitle === 'op';
export const nodeHeight = (n: ShownNode): number => (hasNumbers(n) ? NODE.height : 44);

export const NODE = { width: 230, height: 78 } as const;

export interface Point {
  x: number;
  y: number;
}
export interface PlacedNode extends ShownNode, Point {}
export interface PlacedEdge extends ShownEdge {
  points: Point[];
  /** Where the shape is written; null for an edge into a wide concatenation (its shape shows on hover). */
  label: Point | null;
}
export interface PlacedCluster extends ShownCluster, Point {
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

/** Inputs of a concatenation beyond which its edges carry no label box and all but one take a lane. */
const LABELLED_FAN_IN = 4;
/** Room inside a box around its content (the top holds its title). */
const PAD = { top: 28, side: 10, bottom: 10 } as const;
const LANE = { gap: 7, margin: 12 } as const;
const DAGRE = { nodesep: 24, ranksep: 36, edgesep: 12 } as const;
const LABEL_HEIGHT = 14;
const MARGIN = 12;
const ROOT = '';
/** Stand-ins for where edges enter and leave a box, laid out with its content. */
const IN = '\u0000in';
const OUT = '\u0000out';

/**
 * One box's content laid out by dagre, relative to the content's top left corner, by the items'
 * places in the box (so boxes of the same make, DenseNet's dense layers, share one layout).
 */
interface BoxLayout {
  width: number;
  height: number;
  at: Point[];
  /** Routes between this box's items by `i>j` (IN and OUT for the stand-ins), with the label's place when it has one. */
  routes: Map<string, { points: Point[]; label: Point | null }>;
  /** Where this box's lanes start. */
  laneX: number;
}

/** Box layouts by their content's sizes and edges: keep one per model view and reuse it across folds. */
export type LayoutCache = Map<string, BoxLayout>;

const pair = (a: string, b: string): string => `${a}>${b}`;

export function layoutGraph(shown: ShownGraph, cache: LayoutCache = new Map()): GraphLayout {
  const parentOf = new Map<string, string>();
  for (const c of shown.clusters) parentOf.set(c.id, c.parent ?? ROOT);
  for (const n of shown.nodes) parentOf.set(n.id, n.cluster ?? ROOT);
  const items = new Map<string, string[]>([[ROOT, []]]);
  for (const c of shown.clusters) items.set(c.id, []);
  for (const [id, parent] of parentOf) items.get(parent)?.push(id);
  /** The boxes holding `id`, innermost first, ending with the root. */
  const boxesOf = (id: string): string[] => {
    const out: string[] = [];
    for (let b = parentOf.get(id); b !== undefined; b = b === ROOT ? undefined : parentOf.get(b)) out.push(b);
    return out;
  };
  /** The item of `box` that holds `id` (itself when it sits there). */
  const itemIn = (id: string, box: string): string => {
    let at = id;
    while (parentOf.get(at) !== box) at = parentOf.get(at) as string;
    return at;
  };
  const nodeById = new Map(shown.nodes.map((n) => [n.id, n]));
  const order = new Map(shown.nodes.map((n, i) => [n.id, i]));
  const fanIn = new Map<string, ShownEdge[]>();
  for (const e of shown.edges) fanIn.set(e.to, [...(fanIn.get(e.to) ?? []), e]);
  const labelled = (e: ShownEdge): boolean => (fanIn.get(e.to)?.length ?? 0) <= LABELLED_FAN_IN;
  const fanOut = new Map<string, number>();
  for (const e of shown.edges) fanOut.set(e.from, (fanOut.get(e.from) ?? 0) + 1);
  /**
   * Lanes take the inputs of a wide concatenation but the nearest, and the other inputs of any
   * node that come from a source feeding more than two (DenseNet's features, reused by every later
   * layer); an Inception module's branches (one consumer each) and a residual shortcut (two) stay.
   */
  const inLane = (e: ShownEdge): boolean => {
    const ins = fanIn.get(e.to) ?? [];
    if (ins.length <= 1 || (ins.length <= LABELLED_FAN_IN && (fanOut.get(e.from) ?? 0) <= 2)) return false;
    const nearest = ins.reduce((a, b) => ((order.get(b.from) ?? 0) > (order.get(a.from) ?? 0) ? b : a));
    return e !== nearest;
  };

  // Each edge as the pieces each box lays out: the common box's pair, and exits and entries below it.
  const boxEdges = new Map<string, Map<string, ShownEdge | null>>();
  const addBoxEdge = (box: string, from: string, to: string, e: ShownEdge | null): void => {
    const m = boxEdges.get(box) ?? new Map<string, ShownEdge | null>();
    boxEdges.set(box, m);
    if (!m.has(pair(from, to))) m.set(pair(from, to), e);
  };
  const laneSources = new Map<string, string[]>();
  const plans: { e: ShownEdge; common: string; up: string[]; down: string[]; lane: boolean }[] = [];
  for (const e of shown.edges) {
    const fromBoxes = boxesOf(e.from);
    const toBoxes = new Set(boxesOf(e.to));
    const common = fromBoxes.find((b) => toBoxes.has(b)) ?? ROOT;
    const up = fromBoxes.slice(0, fromBoxes.indexOf(common));
    const down = boxesOf(e.to);
    const plan = { e, common, up, down: down.slice(0, down.indexOf(common)).reverse(), lane: inLane(e) };
    plans.push(plan);
    if (plan.lane) {
      const lanes = laneSources.get(common) ?? [];
      if (!lanes.includes(e.from)) lanes.push(e.from);
      laneSources.set(common, lanes);
      continue;
    }
    addBoxEdge(common, itemIn(e.from, common), itemIn(e.to, common), labelled(e) ? e : null);
    for (const b of plan.up) addBoxEdge(b, itemIn(e.from, b), OUT, null);
    for (const b of plan.down) addBoxEdge(b, IN, itemIn(e.to, b), null);
  }

  const sizeOf = (id: string, boxes: Map<string, BoxLayout>): { width: number; height: number } => {
    const n = nodeById.get(id);
    if (n) return { width: NODE.width, height: nodeHeight(n) };
    const b = boxes.get(id) as BoxLayout;
    return { width: b.width + 2 * PAD.side, height: b.height + PAD.top + PAD.bottom };
  };
  const boxes = new Map<string, BoxLayout>();
  /** The item's index in its box; the stand-ins keep their names. */
  const indexIn = new Map<string, string>([
    [IN, IN],
    [OUT, OUT],
  ]);
  for (const list of items.values()) list.forEach((id, i) => indexIn.set(id, String(i)));
  const local = (key: string): string => {
    const [from, to] = key.split('>');
    return pair(indexIn.get(from) as string, indexIn.get(to) as string);
  };
  /** Lays out `box` after its inner boxes; a box of the same sizes and edges is laid out once. */
  const layBox = (box: string): BoxLayout => {
    const inner = items.get(box) ?? [];
    for (const id of inner) if (items.has(id)) layBox(id);
    const sizes = inner.map((id) => sizeOf(id, boxes));
    const edges = new Map([...(boxEdges.get(box) ?? [])].map(([key, e]) => [local(key), e ? labelWidth(e) : 0]));
    const lanes = laneSources.get(box)?.length ?? 0;
    const key = `${sizes.map((s) => `${s.width}x${s.height}`)}|${[...edges].map(([k, w]) => `${k}:${w}`)}|${lanes}`;
    const laid = cache.get(key) ?? chainBox(sizes, edges, lanes) ?? dagreBox(sizes, edges, lanes);
    cache.set(key, laid);
    boxes.set(box, laid);
    return laid;
  };
  const root = layBox(ROOT);

  // Absolute places: each box's content starts inside its placed frame.
  const origin = new Map<string, Point>([[ROOT, { x: MARGIN, y: MARGIN }]]);
  const centre = new Map<string, Point>();
  const clusters: PlacedCluster[] = [];
  const clusterById = new Map(shown.clusters.map((c) => [c.id, c]));
  const place = (box: string): void => {
    const o = origin.get(box) as Point;
    for (const [i, id] of (items.get(box) ?? []).entries()) {
      const p = boxes.get(box)?.at[i] as Point;
      const c = { x: o.x + p.x, y: o.y + p.y };
      centre.set(id, c);
      const sub = boxes.get(id);
      if (sub === undefined) continue;
      const { width, height } = sizeOf(id, boxes);
      clusters.push({ ...(clusterById.get(id) as ShownCluster), x: c.x, y: c.y, width, height });
      origin.set(id, { x: c.x - width / 2 + PAD.side, y: c.y - height / 2 + PAD.top });
      place(id);
    }
  };
  place(ROOT);
  const shift = (box: string, pts: readonly Point[]): Point[] => {
    const o = origin.get(box) as Point;
    return pts.map((p) => ({ x: o.x + p.x, y: o.y + p.y }));
  };
  const top = (id: string): Point => {
    const c = centre.get(id) as Point;
    return { x: c.x, y: c.y - nodeHeight(nodeById.get(id) as ShownNode) / 2 };
  };
  const bottom = (id: string): Point => {
    const c = centre.get(id) as Point;
    return { x: c.x, y: c.y + nodeHeight(nodeById.get(id) as ShownNode) / 2 };
  };

  const edges: PlacedEdge[] = plans.map(({ e, common, up, down, lane }) => {
    if (lane) {
      const start = bottom(e.from);
      const end = top(e.to);
      const b = boxes.get(common) as BoxLayout;
      const lanes = laneSources.get(common) as string[];
      const x = (origin.get(common) as Point).x + b.laneX + LANE.gap * lanes.indexOf(e.from);
      const points = [start, { x: start.x, y: start.y + 8 }, { x, y: start.y + 8 }, { x, y: end.y - 8 }];
      return { ...e, points: [...points, { x: end.x, y: end.y - 8 }, end], label: null };
    }
    const route = (box: string, from: string, to: string): Point[] =>
      shift(box, boxes.get(box)?.routes.get(local(pair(from, to)))?.points ?? []);
    const mid = boxes.get(common)?.routes.get(local(pair(itemIn(e.from, common), itemIn(e.to, common))));
    // dagre's routes start on the source's border and end on the target's, box by box.
    const points = [
      ...up.flatMap((b) => route(b, itemIn(e.from, b), OUT)),
      ...route(common, itemIn(e.from, common), itemIn(e.to, common)),
      ...down.flatMap((b) => route(b, IN, itemIn(e.to, b))),
    ];
    const label = labelled(e) && mid?.label ? shift(common, [mid.label])[0] : null;
    return { ...e, points, label };
  });
  return {
    nodes: shown.nodes.map((n) => ({ ...n, ...(centre.get(n.id) as Point) })),
    edges,
    clusters,
    width: root.width + 2 * MARGIN,
    height: root.height + 2 * MARGIN,
  };
}

const labelWidth = (e: ShownEdge): number => 8 * shapeText(e.shape).length;

/** The room a box's lanes take at its right. */
const laneRoom = (lanes: number): number => (lanes === 0 ? 0 : LANE.margin + LANE.gap * lanes);

/**
 * A box whose items (and stand-ins) form one chain, a conv-BN-ReLU or a dense layer, laid out as
 * the column dagre would make of it, without dagre: its fixed cost (about 10 ms a box here) is
 * what made a few hundred small boxes slow. null when the content branches.
 */
function chainBox(
  sizes: readonly { width: number; height: number }[],
  edges: ReadonlyMap<string, number>,
  lanes: number,
): BoxLayout | null {
  const next = new Map<string, string>();
  const label = new Map<string, number>();
  const hasPred = new Set<string>();
  for (const [key, width] of edges) {
    const [from, to] = key.split('>');
    if (next.has(from) || hasPred.has(to)) return null;
    next.set(from, to);
    hasPred.add(to);
    label.set(from, width);
  }
  const all = [...sizes.keys()].map(String);
  for (const port of [IN, OUT]) if (next.has(port) || hasPred.has(port)) all.push(port);
  const heads = all.filter((id) => !hasPred.has(id));
  if (heads.length !== 1 || edges.size !== all.length - 1) return null;
  const size = (id: string): { width: number; height: number } =>
    id === IN || id === OUT ? { width: 1, height: 1 } : sizes[Number(id)];
  const width = Math.max(...all.map((id) => size(id).width), ...[...label.values()]);
  const at = new Map<string, Point>();
  const routes = new Map<string, { points: Point[]; label: Point | null }>();
  let y = 0;
  for (
    let id: string | undefined = heads[0], prev: string | null = null;
    id !== undefined;
    prev = id, id = next.get(id)
  ) {
    const h = size(id).height;
    if (prev !== null) {
      // About the gap dagre leaves: the rank separation, and room for a label when there is one.
      const gap = (label.get(prev) ?? 0) > 0 ? DAGRE.ranksep + 1.5 * LABEL_HEIGHT : DAGRE.ranksep;
      const top = y + gap;
      routes.set(pair(prev, id), {
        points: [
          { x: width / 2, y },
          { x: width / 2, y: y + gap / 2 },
          { x: width / 2, y: top },
        ],
        label: (label.get(prev) ?? 0) > 0 ? { x: width / 2, y: y + gap / 2 } : null,
      });
      y = top;
    }
    at.set(id, { x: width / 2, y: y + h / 2 });
    y += h;
  }
  if (at.size !== all.length) return null;
  return {
    width: width + laneRoom(lanes),
    height: y,
    at: sizes.map((_, i) => at.get(String(i)) as Point),
    routes,
    laneX: width + LANE.margin,
  };
}

/** dagre on one box's items (by index: nodes, inner boxes, the entry and exit stand-ins), plus room for its lanes. */
function dagreBox(
  sizes: readonly { width: number; height: number }[],
  edges: ReadonlyMap<string, number>,
  lanes: number,
): BoxLayout {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'TB', ...DAGRE, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  sizes.forEach((s, i) => g.setNode(String(i), s));
  // dagre orders a rank's nodes by the last-set edges first: set in reverse, the branches of an
  // inception module come out left to right as the model lists them.
  for (const [key, label] of [...edges].reverse()) {
    const [from, to] = key.split('>');
    for (const port of [from, to]) if (port === IN || port === OUT) g.setNode(port, { width: 1, height: 1 });
    g.setEdge(from, to, label > 0 ? { width: label, height: LABEL_HEIGHT, labelpos: 'c' } : {});
  }
  dagre.layout(g);
  const graph = g.graph();
  const routes = new Map<string, { points: Point[]; label: Point | null }>();
  for (const [key, label] of edges) {
    const [from, to] = key.split('>');
    const d = g.edge(from, to) as { points: Point[]; x?: number; y?: number };
    routes.set(key, {
      points: d.points,
      label: label > 0 && d.x !== undefined && d.y !== undefined ? { x: d.x, y: d.y } : null,
    });
  }
  const width = graph.width ?? 0;
  return {
    width: width + laneRoom(lanes),
    height: graph.height ?? 0,
    at: sizes.map((_, i) => ({ x: g.node(String(i)).x, y: g.node(String(i)).y })),
    routes,
    laneX: width + LANE.margin,
  };
}
