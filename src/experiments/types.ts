/**
 * What an experiment is and what it hands back: the lecture's claims, each with what this run
 * measured and whether the claim held (computed from the numbers, never written in advance), the
 * numbers themselves, and the charts as Vega specs. report.ts turns a result into a report folder.
 */
import type { Spec } from 'vega';

export type ExperimentMode = 'quick' | 'full';

export interface ExperimentSettings {
  mode: ExperimentMode;
  /** Data set spec for the experiments that train (as `convkit train --data`). */
  data: string;
  /** Seed of initialisation and data order. */
  seed: number;
  /** Overrides of the training size (tests and --limit/--epochs); default by mode. */
  trainLimit?: number;
  testLimit?: number;
  epochs?: number;
  /** Lines of progress (the command prints them; tests may drop them). */
  log?: (line: string) => void;
}

/** Overrides of the training sizes, as ExperimentSettings takes them. */
export type TinySizes = Pick<ExperimentSettings, 'trainLimit' | 'testLimit' | 'epochs'>;

/** One claim of the lecture and how this run came out on it. */
export interface ClaimResult {
  /** Short stable id, also the key in data.json. */
  id: string;
  /** The claim in the lecture's words (or close to them). */
  claim: string;
  /** What this run measured, in one or two sentences with the numbers. */
  measured: string;
  /** true: held in this run; false: did not hold; null: not tested in this run (and why in `measured`). */
  held: boolean | null;
}

export interface ChartSpec {
  /** File name inside the report folder, e.g. 'params.svg'. */
  file: string;
  /** One line under the chart in the report. */
  caption: string;
  spec: Spec;
}

export interface ExperimentResult {
  name: string;
  title: string;
  mode: ExperimentMode;
  claims: ClaimResult[];
  /** Markdown sections (tables, notes) between the claims and the verdict, in order. */
  sections: { heading: string; body: string }[];
  charts: ChartSpec[];
  /** Every number the report prints, and more. */
  data: Record<string, unknown>;
  /** What this run left out (e.g. training that --quick skips). */
  notRun: string[];
}

export interface Experiment {
  name: string;
  title: string;
  /** One line for `convkit experiment --help` and the list. */
  summary: string;
  /** What it shows, in one or two sentences of the lecture (the tour prints it before the step). */
  lesson: string;
  /** True when it trains a network (then --quick and --full differ in data and epochs). */
  trains: boolean;
  /** The smallest sizes that still run every part (the tour's --tiny and the tests); {} when --quick is already tiny. */
  tiny: TinySizes;
  run(settings: ExperimentSettings): Promise<ExperimentResult>;
}

/** The verdict word of a claim. */
export function verdictWord(held: boolean | null): string {
  if (held === null) return 'not tested in this run';
  return held ? 'held' : 'did not hold';
}
