/** `convkit quiz`: the lecture's parameter quiz answered from the built models. */
import { answerQuiz, type Measured } from '../analysis/quiz.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { toJson, type Format } from './args.js';
import { quizText } from './format/quiz.js';
import type { Zoo } from './zoo.js';

/** Exact parameters and multiply-adds of a registry model at its default input. */
export function measureModel(zoo: Zoo, name: string): Measured {
  const { totals } = summarizeEntry(zoo.get(name));
  return { params: totals.params, macs: totals.macs };
}

export function quizCommand(zoo: Zoo, opts: { format: Format }): string {
  const answer = answerQuiz((name) => measureModel(zoo, name));
  return opts.format === 'json' ? toJson(answer) : quizText(answer);
}
