"""Golden values for the data transforms that have a PyTorch or NumPy counterpart:

- `resize`: torchvision.transforms.functional.resize(tensor, [h, w], BILINEAR, antialias=False),
  which is interpolate(mode='bilinear', align_corners=False), on random float32 CHW batches,
  upscaling, downscaling, mixed and identity sizes;
- `rgbPca`: numpy's population covariance of the RGB values over all pixels of a random image set,
  and numpy.linalg.eigh of it (eigenvalues in decreasing order; the sign of each eigenvector is made
  positive in its largest component, since eigenvectors are defined up to sign).

Writes test/golden/resize-pca.json, read by test/data/resize-pca.test.ts.
"""
import numpy as np
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from common import seed_everything, tensor_json, write_fixture

seed_everything(0)
cases = []
for (n, c, h, w), (oh, ow) in [
    ((2, 3, 5, 7), (9, 11)),
    ((1, 1, 8, 6), (3, 4)),
    ((1, 2, 4, 4), (4, 4)),
    ((1, 1, 3, 5), (1, 1)),
    ((1, 3, 6, 2), (13, 5)),
    ((1, 1, 28, 28), (32, 32)),
]:
    x = torch.rand(n, c, h, w)
    y = TF.resize(x, [oh, ow], interpolation=InterpolationMode.BILINEAR, antialias=False)
    cases.append({"name": f"resize {h}x{w} -> {oh}x{ow}", "op": "resize", "args": {"height": oh, "width": ow},
                  "input": tensor_json(x), "output": tensor_json(y)})

images = torch.rand(5, 3, 4, 6)
# Correlated channels, as in photographs: green follows red, blue follows both a little.
images[:, 1] = 0.7 * images[:, 0] + 0.3 * images[:, 1]
images[:, 2] = 0.2 * images[:, 0] + 0.3 * images[:, 1] + 0.5 * images[:, 2]
pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
cov = np.cov(pixels, rowvar=False, bias=True)
values, vectors = np.linalg.eigh(cov)
order = np.argsort(values)[::-1]
values, vectors = values[order], vectors[:, order].T
vectors = np.array([v if v[np.argmax(np.abs(v))] > 0 else -v for v in vectors])
cases.append({"name": "rgbPca of 5 correlated 3x4x6 images", "op": "rgbPca", "args": {},
              "input": tensor_json(images), "covariance": cov.tolist(),
              "eigenvalues": values.tolist(), "eigenvectors": vectors.tolist()})

write_fixture("test/golden/resize-pca.json", "scripts/golden/resize_pca.py", cases)
