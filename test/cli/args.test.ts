import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command, Option } from 'commander';
import {
  parseChoice,
  parseInteger,
  parseNumber,
  parsePath,
  requireExact,
  shown,
  UsageError,
} from '../../src/cli/args.js';
import { buildProgram, commandPath, runProgram } from '../../src/cli/program.js';

const usage = (message: string) => (e: unknown) => e instanceof UsageError && e.message === message;

describe('argument parsers', () => {
  it('integers: name the option, the range and what came, for every kind of bad value', () => {
    const r = { min: 1, max: 10_000 };
    assert.equal(parseInteger('--layers', '24', r), 24);
    assert.equal(parseInteger('--layers', ' 1e3 ', r), 1000);
    assert.equal(parseInteger('--layers', '+7', r), 7);
    assert.throws(
      () => parseInteger('--layers', '1e9', r),
      usage('--layers: expected an integer from 1 to 10000, got 1e9'),
    );
    // Empty and blank strings are not 0 (Number('') is).
    assert.throws(
      () => parseInteger('--seed', '', { min: 0, max: 9 }),
      usage('--seed: expected an integer from 0 to 9, got ""'),
    );
    assert.throws(
      () => parseInteger('--seed', ' ', { min: 0, max: 9 }),
      usage('--seed: expected an integer from 0 to 9, got " "'),
    );
    for (const bad of ['0', '10001', '2.5', '0x10', 'Infinity', '1e400', 'NaN', 'abc', '1_000', '-1'])
      assert.throws(() => parseInteger('--layers', bad, r), UsageError, bad);
    assert.throws(
      () => parseInteger('--samples', '2e7', { min: 32, max: 500_000 }, (n) => `(${n} images)`),
      usage('--samples: expected an integer from 32 to 500000, got 2e7 (20000000 images)'),
    );
  });

  it('numbers, choices and paths', () => {
    const r = { min: 0, max: 1, aboveMin: true };
    assert.equal(parseNumber('--compression', '0.5', r), 0.5);
    assert.equal(parseNumber('--compression', '1', r), 1);
    assert.throws(
      () => parseNumber('--compression', '0', r),
      usage('--compression: expected a number above 0 and at most 1, got 0'),
    );
    assert.throws(
      () => parseNumber('--x', '', { min: 0, max: 1 }),
      usage('--x: expected a number from 0 to 1, got ""'),
    );
    assert.equal(parseChoice('--format', 'json', ['text', 'json']), 'json');
    assert.throws(
      () => parseChoice('--format', 'xml', ['text', 'json']),
      usage('--format: expected one of text, json, got xml'),
    );
    assert.equal(parsePath('--out', 'a b/c'), 'a b/c');
    assert.throws(() => parsePath('--out', ''), usage('--out: expected a file path, got ""'));
    // What came is shown on one line, however it looks.
    assert.equal(shown('a\nb'), '"a\\nb"');
    assert.equal(shown('x'.repeat(100)), `${'x'.repeat(60)}...`);
  });

  it('requireExact refuses counts a double cannot hold exactly', () => {
    requireExact({ a: [1, 2.5, Number.MAX_SAFE_INTEGER] }, 'ok');
    assert.throws(
      () => requireExact({ a: { b: [0, 2 ** 53] } }, 'what'),
      /^UsageError: what: a\.b\[1\] would be 9007199254740992, past 2\^53 - 1/,
    );
    assert.throws(() => requireExact({ x: Number.POSITIVE_INFINITY }, 'what'), /x would be Infinity/);
  });
});

/** Runs the program in-process; resolves to what it printed or rejects with what it threw. */
async function run(...args: string[]): Promise<string> {
  const out: string[] = [];
  await runProgram(['node', 'convkit', ...args], (t) => out.push(t));
  return out.join('\n');
}

describe('the program in-process', () => {
  it('the reported cases fail fast with a usage error naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['calc', 'dense', '--layers', '1e9'], /^--layers: expected an integer from 1 to 10000, got 1e9$/],
      [['calc', 'dense', '--layers', '150000'], /^--layers: expected an integer from 1 to 10000, got 150000$/],
      [
        ['calc', 'stack', '--kernel', '1e9', '--count', '1e9'],
        /^--kernel: expected an integer from 1 to 10000, got 1e9$/,
      ],
      [
        ['calc', 'stack', '--kernel', '1e4', '--count', '1e4'],
        /^calc stack: stacked\.params would be \d+, past 2\^53 - 1/,
      ],
      [['calc', 'bottleneck', '--in', '1e308'], /^--in: expected an integer from 1 to 1000000, got 1e308$/],
      [['summary', 'resnet152', '--batch', '1e300'], /^--batch: expected an integer from 1 to 1000000, got 1e300$/],
      [
        ['summary', 'resnet152', '--input', '3x100000x100000', '--batch', '1000000'],
        /^summary resnet152 at batch 1000000 and input 3x100000x100000: totals\.macs would be/,
      ],
      [
        ['compare', 'alexnet', '--batch', '1000000', '--input', '3x100000x100000'],
        /^compare: alexnet at batch 1000000/,
      ],
      [
        ['demo', '--samples', '2e7'],
        /^--samples: expected an integer from 32 to 500000, got 2e7 \(its images would take 25\.7 GB of memory; the limit keeps them under 0\.64 GB\)$/,
      ],
      [['demo', '--seed', ''], /^--seed: expected an integer from 0 to 4294967295, got ""$/],
      [
        ['list', '--family', 'lenet'],
        /^--family: expected one of alexnet, vgg, googlenet, resnet, densenet, got lenet$/,
      ],
      [['summary', 'resnet5'], /^zoo: unknown model 'resnet5'; closest: resnet50/],
      [['calc', 'stack', '--foo'], /^unknown option '--foo' \(see convkit calc stack --help\)$/],
      [['summary'], /^missing required argument 'model' \(see convkit summary --help\)$/],
      [['lst'], /^unknown command 'lst' \(Did you mean list\?\) \(see convkit --help\)$/],
      [['calc'], /^calc needs a command: stack, bottleneck, inception, block, dense \(see convkit calc --help\)$/],
      [
        [],
        /^missing command: demo, list, summary, compare, quiz, calc, train, eval, plot, predict, convert, inspect, export, experiment, tour, serve \(see convkit --help\)$/,
      ],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(
        run(...args),
        (e: unknown) => e instanceof UsageError && message.test(e.message),
        args.join(' '),
      );
    }
  });

  it('the largest allowed values finish with exact results', async () => {
    const dense = JSON.parse(await run('calc', 'dense', '--layers', '10000', '--format', 'json'));
    assert.equal(dense.layers.length, 10_000);
    assert.ok(Number.isSafeInteger(dense.blockParams));
    const json = JSON.parse(await run('summary', 'resnet18', '--batch', '1000000', '--depth', '0', '--format', 'json'));
    assert.equal(json.batch, 1_000_000);
    assert.ok(Number.isSafeInteger(json.totals.macs));
  });

  it('every option that takes a number says its range in --help', () => {
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    const numeric = (o: Option): boolean => /<(n|c|k|e|s|f|x)>$/.test(o.flags);
    let seen = 0;
    for (const command of all(buildProgram())) {
      for (const o of command.options as Option[]) {
        if (!numeric(o)) continue;
        seen++;
        // intOption: (1 to 10); numberOption: (from 0 to 0.999) or (above 0 and at most 10).
        assert.match(
          o.description,
          /\((\d+ to \d+|from [\d.]+ to [\d.]+|above [\d.]+ and at most [\d.]+)\)$/,
          `${command.name()} ${o.flags}`,
        );
      }
    }
    assert.ok(seen >= 25, `only ${seen} numeric options`);
  });

  it('commandPath follows the subcommands named on the command line', () => {
    const program = buildProgram();
    assert.deepEqual(
      commandPath(program, ['calc', '--x', 'stack', '--kernel', '5']).map((c) => c.name()),
      ['convkit', 'calc', 'stack'],
    );
  });
});
