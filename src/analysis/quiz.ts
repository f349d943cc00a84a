/**
 * The lecture's quiz: "Which CNN architecture has the least number of parameters? AlexNet (60M),
 * VGGNet-19 (110M), GoogLeNet (4M)". Answered with exact counts from the built models; the
 * lecture's figures are kept to show where they are off (VGG19 has 143.7M, not 110M).
 */

export interface QuizChoice {
  /** Registry name of the model the exact count comes from. */
  model: string;
  label: string;
  /** The figure the lecture gives. */
  lectureParams: number;
  /** The paper's own layout, where the registry has it. */
  paperModel?: string;
}

export const LECTURE_QUIZ: readonly QuizChoice[] = [
  { model: 'alexnet', label: 'AlexNet (8 layers)', lectureParams: 60e6, paperModel: 'alexnet_paper' },
  { model: 'vgg19', label: 'VGGNet (19 layers)', lectureParams: 110e6 },
  { model: 'googlenet', label: 'GoogLeNet (22 layers)', lectureParams: 4e6, paperModel: 'googlenet_paper' },
];

export const LECTURE_ANSWER = 'googlenet';

export interface Measured {
  params: number;
  macs: number;
}

export interface QuizRow {
  choice: QuizChoice;
  exact: Measured;
  paper: Measured | null;
  /** exact / lecture parameters. */
  lectureRatio: number;
}

export interface QuizAnswer {
  rows: QuizRow[];
  /** The choice with the fewest parameters by exact count. */
  fewest: QuizRow;
  /** Whether the lecture's answer holds. */
  lectureRight: boolean;
}

/** Answers the quiz; `measure` returns exact counts for a registry name (from a built model). */
export function answerQuiz(
  measure: (model: string) => Measured,
  choices: readonly QuizChoice[] = LECTURE_QUIZ,
): QuizAnswer {
  const rows = choices.map((choice): QuizRow => {
    const exact = measure(choice.model);
    return {
      choice,
      exact,
      paper: choice.paperModel ? measure(choice.paperModel) : null,
      lectureRatio: exact.params / choice.lectureParams,
    };
  });
  const fewest = rows.reduce((best, r) => (r.exact.params < best.exact.params ? r : best));
  return { rows, fewest, lectureRight: fewest.choice.model === LECTURE_ANSWER };
}
