/** The files of a `convkit train` run folder, apart from train-run-folder.ts so the page can name them without node:fs. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  chart: 'curves.svg',
} as const;
