/** Analysis: summaries (params, MACs, receptive fields, memory) as data, and the lecture's calculators. */
export * from './calculators.js';
export {
  estimateTrainingMemory,
  OPTIMIZER_SLOTS,
  type OptimizerKind,
  type TrainingMemory,
  type TrainingMemoryInput,
} from './memory.js';
export {
  answerQuiz,
  LECTURE_ANSWER,
  LECTURE_QUIZ,
  type Measured,
  type QuizAnswer,
  type QuizChoice,
  type QuizRow,
} from './quiz.js';
export * from './receptive-field.js';
export {
  rowsToDepth,
  showsSubtree,
  inMode,
  summarize,
  type LayerRow,
  type ModelSummary,
  type SummaryOptions,
  type SummaryTotals,
  type UnusedModule,
} from './summary.js';
export { DTYPE_BYTES, traceForward, type ConvWindow, type ForwardTrace, type ModuleCall } from './trace-model.js';
export { publishedResult, summarizeEntry, type EntrySummaryOptions } from './zoo.js';
export { traceDataflow, type Dataflow, type FlowEdge, type FlowNode } from './dataflow.js';
