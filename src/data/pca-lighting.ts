/**
 * AlexNet's colour augmentation (Krizhevsky, Sutskever and Hinton 2012, section 4.1): a principal
 * component analysis of the RGB pixel values over the training set, then to every pixel of an image
 * the same offset `sum_i alpha_i * lambda_i * p_i` is added, where `p_i` and `lambda_i` are the
 * eigenvectors and eigenvalues of the 3x3 RGB covariance and `alpha_i` is drawn once per image
 * from a normal distribution of standard deviation 0.1. It changes the intensity and colour of the
 * lighting along the directions in which natural images vary, and leaves the object's identity.
 */
import { ArgumentError } from '../core/errors.js';
import type { ArrayDataset } from './dataset.js';
import { asImageShape, type Transform } from './transforms.js';

/** Eigenvalues in decreasing order and the matching unit eigenvectors (`eigenvectors[i]` is p_i). */
export interface RgbPca {
  eigenvalues: number[];
  eigenvectors: number[][];
}

/** The symmetric matrix's eigenvalues and eigenvectors by cyclic Jacobi rotations (exact to rounding for 3x3). */
export function symmetricEigen(matrix: readonly (readonly number[])[]): RgbPca {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (a[p][q] === 0) continue;
        // The rotation that zeroes a[p][q] (Golub and Van Loan, algorithm 8.4.1).
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j][j] - a[i][i]);
  return { eigenvalues: order.map((i) => a[i][i]), eigenvectors: order.map((i) => v.map((row) => row[i])) };
}

/** The 3x3 covariance of RGB values over every pixel of every image (population, float64). */
export function rgbCovariance(data: ArrayDataset): number[][] {
  const [c, h, w] = asImageShape(data.sampleShape);
  if (c !== 3) throw new ArgumentError('rgbPca', `needs RGB images (3 channels), got ${c}`);
  const plane = h * w;
  const count = data.labels.length;
  const sum = new Float64Array(3);
  const prod = new Float64Array(9);
  // Per-image sums in scalar locals (no array per pixel): over a 50,000-image set this is the cost.
  for (let n = 0; n < count; n++) {
    const r0 = n * 3 * plane;
    const g0 = r0 + plane;
    const b0 = g0 + plane;
    let sr = 0;
    let sg = 0;
    let sb = 0;
    let rr = 0;
    let rg = 0;
    let rb = 0;
    let gg = 0;
    let gb = 0;
    let bb = 0;
    for (let i = 0; i < plane; i++) {
      const r = data.inputs[r0 + i];
      const g = data.inputs[g0 + i];
      const b = data.inputs[b0 + i];
      sr += r;
      sg += g;
      sb += b;
      rr += r * r;
      rg += r * g;
      rb += r * b;
      gg += g * g;
      gb += g * b;
      bb += b * b;
    }
    sum[0] += sr;
    sum[1] += sg;
    sum[2] += sb;
    prod[0] += rr;
    prod[1] += rg;
    prod[2] += rb;
    prod[4] += gg;
    prod[5] += gb;
    prod[8] += bb;
  }
  const total = count * plane;
  const cov = [0, 1, 2].map(() => [0, 0, 0]);
  for (let a = 0; a < 3; a++) {
    for (let b = a; b < 3; b++) {
      cov[a][b] = prod[a * 3 + b] / total - (sum[a] / total) * (sum[b] / total);
      cov[b][a] = cov[a][b];
    }
  }
  return cov;
}

/** The principal components of the training set's RGB values (what pcaLighting takes). */
export function rgbPca(data: ArrayDataset): RgbPca {
  return symmetricEigen(rgbCovariance(data));
}

/** Adds `sum_i alpha_i * lambda_i * p_i` to every pixel, alpha_i ~ N(0, std) drawn per image (3 draws, i = 0, 1, 2). */
export function pcaLighting(pca: RgbPca, std = 0.1): Transform {
  const { eigenvalues, eigenvectors } = pca;
  const ok =
    eigenvalues.length === 3 &&
    eigenvectors.length === 3 &&
    eigenvectors.every((p) => p.length === 3 && p.every(Number.isFinite)) &&
    eigenvalues.every((l) => Number.isFinite(l) && l >= -1e-12);
  if (!ok) throw new ArgumentError('pcaLighting', 'expected 3 finite eigenvalues >= 0 and 3 eigenvectors of 3 values');
  if (!(std >= 0 && Number.isFinite(std))) throw new ArgumentError('pcaLighting', `std must be >= 0, got ${std}`);
  return {
    name: `pcaLighting(std=${std})`,
    spec: { op: 'pcaLighting', eigenvalues: [...eigenvalues], eigenvectors: eigenvectors.map((p) => [...p]), std },
    outShape(shape) {
      if (shape[0] !== 3) throw new ArgumentError('pcaLighting', `needs RGB images (3 channels), got ${shape[0]}`);
      return shape;
    },
    apply(values, count, [c, h, w], generator) {
      const plane = h * w;
      const out = new Float32Array(values.length);
      for (let n = 0; n < count; n++) {
        const alpha = [0, 1, 2].map(() => generator.normal() * std);
        for (let ch = 0; ch < c; ch++) {
          let shift = 0;
          for (let i = 0; i < 3; i++) shift += alpha[i] * eigenvalues[i] * eigenvectors[i][ch];
          const base = (n * c + ch) * plane;
          for (let k = base; k < base + plane; k++) out[k] = values[k] + shift;
        }
      }
      return out;
    },
  };
}
