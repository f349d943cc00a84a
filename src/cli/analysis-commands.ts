/** Registers `list`, `summary`, `compare` and `quiz` on the program (the commands live one per file). */
import type { Command, Option } from 'commander';
import { OPTIMIZER_SLOTS, type OptimizerKind } from '../analysis/memory.js';
import { choiceOption, formatOption, inputOption, intOption, pathOption } from './args.js';
import { compareCommand } from './compare.js';
import { listCommand, FAMILIES } from './list.js';
import { quizCommand } from './quiz.js';
import { summaryCommand } from './summary.js';
import type { Zoo } from './zoo.js';

/** Limits of the model commands' numbers (the input size's are in args.ts). */
export const MODEL_LIMITS = {
  batch: { min: 1, max: 1_000_000 },
  depth: { min: 0, max: 100 },
} as const;

const imageOption = (): Option =>
  inputOption('--input <CxHxW>', "input of one image, e.g. 3x224x224 (default: the model's own)");
const batchOption = (): Option =>
  intOption(
    '--batch <n>',
    'images per batch: shapes, multiply-adds and memory are for the whole batch',
    MODEL_LIMITS.batch,
    1,
  );
const optimizerOption = (): Option =>
  choiceOption(
    '--optimizer <name>',
    'optimiser for the training-memory estimate (state per parameter: sgd 0, sgd-momentum 1, adam 2)',
    Object.keys(OPTIMIZER_SLOTS) as OptimizerKind[],
    'sgd-momentum',
  );

export function registerAnalysisCommands(program: Command, zoo: Zoo, print: (text: string) => void): void {
  program
    .command('list')
    .description(
      'every model of the zoo: family, layout, input, parameters and multiply-adds (computed), published accuracy, and its idea',
    )
    .addOption(choiceOption('--family <name>', 'only one family', FAMILIES))
    .addOption(formatOption())
    .action((o) => print(listCommand(zoo, o)));

  program
    .command('summary')
    .description(
      'layer-by-layer table of a model: kernel, output shape, parameters, multiply-adds, receptive field; totals and training memory',
    )
    .argument('<model>', "a name from 'convkit list', e.g. resnet18")
    .addOption(imageOption())
    .addOption(
      intOption(
        '--depth <n>',
        'nesting depth of the rows shown; deeper layers fold into their parent (like torchinfo)',
        MODEL_LIMITS.depth,
        3,
      ),
    )
    .addOption(batchOption())
    .addOption(optimizerOption())
    .option('--train', "run in training mode (GoogLeNet's auxiliary heads on) instead of eval")
    .addOption(formatOption())
    .addHelpText(
      'after',
      '\nExamples:\n  convkit summary resnet18\n  convkit summary vgg16 --depth 1 --format markdown\n  convkit summary resnet50 --input 3x160x160 --batch 32 --optimizer adam --format json',
    )
    .action((model: string, o) => print(summaryCommand(zoo, model, o)));

  program
    .command('compare')
    .description(
      'models side by side: parameters, multiply-adds, receptive field, memory, published accuracy and the idea each introduced',
    )
    .argument(
      '<model...>',
      `names from 'convkit list' (1 to ${zoo.entries.length}), e.g. alexnet vgg19 googlenet resnet50`,
    )
    .addOption(imageOption())
    .addOption(batchOption())
    .addOption(optimizerOption())
    .addOption(
      pathOption(
        '--chart <file.svg>',
        'also write an SVG chart of parameters against multiply-adds (missing folders are made)',
      ),
    )
    .addOption(formatOption())
    .action(async (models: string[], o) => print(await compareCommand(zoo, models, o)));

  program
    .command('quiz')
    .description(
      "the lecture's quiz (which of AlexNet, VGG19, GoogLeNet has the fewest parameters?) answered with exact counts",
    )
    .addOption(formatOption(['text', 'json']))
    .action((o) => print(quizCommand(zoo, o)));
}
