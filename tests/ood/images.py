"""The 8-bit test images of the `tfnvp.ood` tests."""

import numpy as np

__all__ = ["SHAPE", "make_images"]

SHAPE = (8, 6, 1)     # non-square


def make_images(n, seed=0, shape=SHAPE):
  """`n` images: noise of a random amplitude on a flat background; the
  first is flat."""
  rng = np.random.default_rng(seed)
  base = rng.integers(0, 256, size=(n, 1, 1, shape[-1]))
  amplitude = rng.integers(0, 128, size=(n, 1, 1, 1))
  amplitude[0] = 0
  noise = rng.integers(-128, 128, size=(n, *shape)) * amplitude // 128
  return np.clip(base + noise, 0, 255).astype(np.uint8)
