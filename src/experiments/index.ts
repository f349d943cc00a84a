/** The lecture's claims as experiments: each writes a report folder (<out>/report.md, data.json, SVG charts). */
export { EXPERIMENTS, experimentNames, getExperiment } from './registry.js';
export { EXPERIMENT_SCHEMA, overall, REPORT_FILES, reportMarkdown, summaryLines, writeReport } from './report.js';
export type { ClaimResult, Experiment, ExperimentMode, ExperimentResult, ExperimentSettings } from './types.js';
