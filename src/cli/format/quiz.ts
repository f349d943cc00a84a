/** The lecture's quiz, answered with exact counts, and where the lecture's figures are off. */
import type { QuizAnswer, QuizRow } from '../../analysis/quiz.js';
import { formatCount, formatGiga, formatMillions } from './numbers.js';
import { textTable } from './table.js';

const lectureFigure = (r: QuizRow): string =>
  formatMillions(r.choice.lectureParams)
    .replace(/\.0+M$/, 'M')
    .replace(/(\.\d)0M$/, '$1M');

/** A note for every figure more than 10% away from the exact count. */
function corrections(a: QuizAnswer): string[] {
  return a.rows.flatMap((r) => {
    const paper = r.paper
      ? `; the paper's layout (${r.choice.paperModel}) has ${formatCount(r.paper.params)} (${formatMillions(r.paper.params)})`
      : '';
    const exact = `${formatCount(r.exact.params)} (${formatMillions(r.exact.params)})`;
    if (Math.abs(r.lectureRatio - 1) <= 0.1)
      return [
        `- ${r.choice.label}: ${exact} in torchvision's layout, close to the lecture's ~${lectureFigure(r)}${paper}.`,
      ];
    return [
      `- ${r.choice.label}: the lecture says ~${lectureFigure(r)}; it has ${exact} in torchvision's layout, ${r.lectureRatio.toFixed(2)}x the lecture's figure${paper}.`,
    ];
  });
}

export function quizText(a: QuizAnswer): string {
  const rows = a.rows.map((r) => [
    r.choice.label,
    `~${lectureFigure(r)}`,
    formatCount(r.exact.params),
    formatMillions(r.exact.params),
    formatGiga(r.exact.macs),
    r.paper ? formatCount(r.paper.params) : '--',
  ]);
  const others = a.rows
    .filter((r) => r !== a.fewest)
    .map((r) => `${(r.exact.params / a.fewest.exact.params).toFixed(1)}x fewer than ${r.choice.label.split(' ')[0]}`);
  return [
    "The lecture's quiz: which CNN architecture has the least number of parameters?",
    '',
    ...textTable(
      [
        { header: 'choice', align: 'left' },
        { header: 'lecture', align: 'right' },
        { header: 'exact params', align: 'right' },
        { header: '', align: 'right' },
        { header: 'GMACs', align: 'right' },
        { header: 'paper layout', align: 'right' },
      ],
      rows,
    ),
    '',
    `Answer: ${a.fewest.choice.label}, with ${formatCount(a.fewest.exact.params)} parameters: ${others.join(' and ')}.`,
    a.lectureRight
      ? "The lecture's answer holds; its figures, checked against the built models:"
      : "The lecture's answer does not hold with exact counts; its figures, checked against the built models:",
    ...corrections(a),
    '',
    'Counts are parameters() of the models built here (torchvision layout, GoogLeNet without its training-only auxiliary heads); GMACs at 224x224.',
  ].join('\n');
}
