import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src', 'cli', 'main.ts');
// tsx by absolute URL, so the program can run in any folder (a temporary one, to see what it leaves).
const tsx = import.meta.resolve('tsx');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real program as a person would: `node --import tsx src/cli/main.ts ...`. */
function convkit(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, ['--import', tsx, main, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? root,
    env: { ...process.env, CONVKIT_DEBUG: '', ...opts.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failure as the command line reports them: the status, one line on stderr matching `message`, no stack frames. */
function assertFails(r: Run, code: number, message: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.doesNotMatch(r.stderr, / {4}at /);
  assert.equal(r.stderr.split('\n').length, 2, `one line expected: ${r.stderr}`);
  assert.match(r.stderr.trim(), message);
}

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'convkit-e2e-'));
const tree = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).sort();

describe('convkit command line', () => {
  it('list: every model with its computed parameters and GMACs', () => {
    const r = convkit(['list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^resnet18\s+resnet\s+torchvision\s+3x224x224\s+11,689,512\s+1\.814\s+69\.758% top-1/m);
    assert.match(r.stdout, /^vgg19\s+vgg\s+torchvision\s+3x224x224\s+143,667,240\s+19\.632/m);
    assert.match(r.stdout, /^resnet20_cifar\s+resnet\s+cifar\s+3x32x32\s+269,722\s+0\.041\s+8\.75% error/m);
  });

  it('summary resnet18 --format json: the documented schema with exact totals', () => {
    const r = convkit(['summary', 'resnet18', '--format', 'json', '--depth', '1']);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.schema, 'convkit.summary/1');
    assert.equal(json.totals.params, 11_689_512);
    assert.equal((json.totals.macs / 1e9).toFixed(3), '1.814');
    assert.equal(json.totals.receptiveField.size[0], 435);
    assert.deepEqual(
      json.layers.map((l: { path: string }) => l.path),
      ['', 'conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc'],
    );
    assert.deepEqual(json.layers[1].kernel, [7, 7]);
  });

  it('an unknown model lists the closest names (exit status 2)', () => {
    const r = convkit(['summary', 'resnet5']);
    assertFails(r, 2, /^convkit: zoo: unknown model 'resnet5'; closest: resnet50, /);
    assert.equal(r.stdout, '');
  });

  it('an input too small for the network names the layer where the size reaches zero (exit status 1)', () => {
    assertFails(convkit(['summary', 'alexnet', '--input', '3x32x32']), 1, /^convkit: \w+ \(features\.\d+\): .*0x0/);
  });

  it("quiz: GoogLeNet, and VGG19 has 143.7M parameters, not the lecture's 110M", () => {
    const r = convkit(['quiz']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Answer: GoogLeNet \(22 layers\), with 6,624,904 parameters/);
    assert.match(r.stdout, /VGGNet \(19 layers\): the lecture says ~110M; it has 143,667,240 \(143\.7M\)/);
  });

  it('calc stack prints the lecture numbers', () => {
    const r = convkit(['calc', 'stack']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /294,912/);
    assert.match(r.stdout, /409,600/);
  });
});

// Issue #15: no stack trace reaches the user, every failure is one line and an exit status.
describe('convkit never shows a stack trace', () => {
  it('a value past its limit is refused at once, naming the option (calc dense --layers 1e9 grew until the heap aborted)', () => {
    assertFails(
      convkit(['calc', 'dense', '--layers', '1e9']),
      2,
      /^convkit: --layers: expected an integer from 1 to 10000, got 1e9$/,
    );
  });

  it("commander's own usage errors are one line too", () => {
    assertFails(
      convkit(['calc', 'stack', '--foo']),
      2,
      /^convkit: unknown option '--foo' \(see convkit calc stack --help\)$/,
    );
  });

  it('a reader closing the pipe early (| head -1) ends the program quietly with status 0', () => {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `set -o pipefail; "${process.execPath}" --import "${tsx}" "${main}" summary resnet152 --format json | head -1`,
      ],
      { encoding: 'utf8', cwd: root },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '{\n');
    assert.equal(r.stderr, '');
  });

  it('compare --chart: a folder, or a path under a file, is refused before any work, leaving nothing', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    assertFails(
      convkit(['compare', 'resnet18', '--chart', dir], { cwd: dir }),
      2,
      /^convkit: --chart: .* is a folder; expected a file name$/,
    );
    assertFails(
      convkit(['compare', 'resnet18', '--chart', join(dir, 'file', 'x.svg')], { cwd: dir }),
      2,
      /^convkit: --chart: .*file is not a folder, so .*x\.svg cannot be written$/,
    );
    assert.deepEqual(tree(dir), ['file']);
  });

  it('demo --out at a file fails before training, leaving no temporary file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'results'), 'x');
    const r = convkit(['demo', '--out', 'results'], { cwd: dir });
    assertFails(r, 2, /^convkit: --out: .*results is not a folder, so .*demo-accuracy\.svg cannot be written$/);
    assert.equal(r.stdout, '', 'nothing trained');
    assert.deepEqual(tree(dir), ['results']);
  });

  it('demo --samples 2e7 is refused with the memory it would take', () => {
    assertFails(
      convkit(['demo', '--samples', '2e7']),
      2,
      /^convkit: --samples: expected an integer from 32 to 500000, got 2e7 \(its images would take 25\.7 GB of memory; .*\)$/,
    );
  });

  it('a bad CONVKIT_THREADS is at most one line, never a stack trace, even while the library loads', () => {
    for (const threads of ['abc', '0', '99999']) {
      const r = convkit(['summary', 'resnet18', '--depth', '0'], { env: { CONVKIT_THREADS: threads } });
      assert.doesNotMatch(r.stderr, / {4}at /, threads);
      if (r.code === 0) continue; // validated lazily: summary never needs threads
      assert.equal(r.code, 1, threads);
      assert.match(r.stderr, /^convkit: [^\n]*\n$/, threads);
      assert.match(r.stderr, /threads|THREADS/, threads);
    }
  });
});
