import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Generator } from '../../src/core/random.js';
import { pcaLighting, rgbCovariance, rgbPca, symmetricEigen } from '../../src/data/pca-lighting.js';
import { resize } from '../../src/data/resize.js';
import { transformFromSpec } from '../../src/data/transform-spec.js';
import { compose, horizontalFlip, normalize, randomCrop } from '../../src/data/transforms.js';

interface Tensor {
  shape: number[];
  values: number[];
}
interface Case {
  name: string;
  op: 'resize' | 'rgbPca';
  args: { height: number; width: number };
  input: Tensor;
  output: Tensor;
  covariance: number[][];
  eigenvalues: number[];
  eigenvectors: number[][];
}

// Written by scripts/golden/resize_pca.py with torchvision 0.14 and NumPy (see test/golden/README.md).
const cases = (
  JSON.parse(readFileSync(fileURLToPath(new URL('../golden/resize-pca.json', import.meta.url)), 'utf8')) as {
    cases: Case[];
  }
).cases;

const close = (a: number, b: number, tol: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe('resize', () => {
  for (const c of cases.filter((k) => k.op === 'resize')) {
    it(`matches torchvision's bilinear resize without antialiasing: ${c.name}`, () => {
      const [n, ch, h, w] = c.input.shape;
      const t = resize(c.args.height, c.args.width);
      assert.deepEqual(t.outShape([ch, h, w]), c.output.shape.slice(1));
      const y = t.apply(Float32Array.from(c.input.values), n, [ch, h, w], new Generator(0));
      assert.equal(y.length, c.output.values.length);
      y.forEach((v, i) => close(v, c.output.values[i], 1e-6, `${c.name} element ${i}`));
    });
  }

  it('refuses a size that is not a positive integer', () => {
    assert.throws(() => resize(0), /resize: height must be an integer >= 1, got 0/);
    assert.throws(() => resize(4, 2.5), /width must be an integer >= 1, got 2.5/);
  });
});

describe('PCA colour augmentation', () => {
  const golden = cases.find((k) => k.op === 'rgbPca');
  assert.ok(golden);
  const [count, c, h, w] = golden.input.shape;
  const data = {
    inputs: Float32Array.from(golden.input.values),
    sampleShape: [c, h, w],
    labels: new Int32Array(count),
    classes: ['x'],
  };

  it("computes the RGB covariance and its eigen decomposition as NumPy's cov and eigh do", () => {
    const cov = rgbCovariance(data);
    cov.forEach((row, a) => row.forEach((v, b) => close(v, golden.covariance[a][b], 1e-9, `cov[${a}][${b}]`)));
    const pca = rgbPca(data);
    pca.eigenvalues.forEach((l, i) => close(l, golden.eigenvalues[i], 1e-9, `eigenvalue ${i}`));
    pca.eigenvectors.forEach((p, i) => {
      const sign = Math.sign(p[p.reduce((m, v, k) => (Math.abs(v) > Math.abs(p[m]) ? k : m), 0)]);
      p.forEach((v, k) => close(sign * v, golden.eigenvectors[i][k], 1e-9, `eigenvector ${i}[${k}]`));
    });
  });

  it('finds the eigenvectors of a matrix with a repeated eigenvalue', () => {
    const { eigenvalues, eigenvectors } = symmetricEigen([
      [2, 1, 0],
      [1, 2, 0],
      [0, 0, 1],
    ]);
    [3, 1, 1].forEach((l, i) => close(eigenvalues[i], l, 1e-12, `eigenvalue ${i}`));
    close(Math.abs(eigenvectors[0][0]), Math.SQRT1_2, 1e-12, 'p0');
  });

  it('adds sum alpha_i lambda_i p_i to every pixel, alpha_i ~ N(0, std) drawn per image', () => {
    const pca = rgbPca(data);
    const std = 0.1;
    const y = pcaLighting(pca, std).apply(data.inputs, count, [c, h, w], new Generator(7));
    const draws = new Generator(7);
    const plane = h * w;
    for (let n = 0; n < count; n++) {
      const alpha = [0, 1, 2].map(() => draws.normal() * std);
      for (let ch = 0; ch < 3; ch++) {
        const want = alpha.reduce((s, a, i) => s + a * pca.eigenvalues[i] * pca.eigenvectors[i][ch], 0);
        for (let k = 0; k < plane; k++) {
          const at = (n * 3 + ch) * plane + k;
          close(y[at] - data.inputs[at], want, 1e-6, `image ${n} channel ${ch} pixel ${k}`);
        }
      }
    }
    assert.throws(() => pcaLighting(pca).outShape([1, 4, 4]), /needs RGB images \(3 channels\), got 1/);
    assert.throws(() => rgbCovariance({ ...data, sampleShape: [1, 4, 6 * 3] }), /needs RGB images/);
  });

  it('composes with the other transforms and is rebuilt from its spec with the same results', () => {
    const t = compose([
      resize(6, 8),
      randomCrop(6, 1),
      horizontalFlip(),
      pcaLighting(rgbPca(data)),
      normalize([0.5, 0.5, 0.5], [0.2, 0.2, 0.2]),
    ]);
    assert.ok(t.spec);
    const again = transformFromSpec(structuredClone(t.spec));
    assert.equal(again.name, t.name);
    assert.deepEqual(t.outShape([3, 4, 6]), [3, 6, 6]);
    const a = t.apply(data.inputs, count, [c, h, w], new Generator(3));
    const b = again.apply(data.inputs, count, [c, h, w], new Generator(3));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, t.apply(data.inputs, count, [c, h, w], new Generator(4)));
  });
});
