"""The original MNIST files, read without TFDS, for the diagnostics."""

import gzip
import os

import numpy as np

__all__ = ["load"]


def _images(path):
  with gzip.open(path) as f:
    data = f.read()
  return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28, 1)


def load():
  """`(train, test)` uint8 images from `$TFNVP_RAW_DATA_DIR/mnist`
  (default `../shared/data/mnist`)."""
  root = os.path.join(os.environ.get("TFNVP_RAW_DATA_DIR", "../shared/data"),
                      "mnist")
  return (_images(os.path.join(root, "train-images-idx3-ubyte.gz")),
          _images(os.path.join(root, "t10k-images-idx3-ubyte.gz")))
