"""Fixtures of the training tests: real MNIST data, prepared once."""

import time
from pathlib import Path

import pytest

from tfnvp.training import data

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
  """A TFDS data_dir with mnist and fashion_mnist prepared offline."""
  if not SHARED_DATA.is_dir():
    pytest.skip(
        f"raw MNIST/Fashion-MNIST files not found at {SHARED_DATA}; "
        "these tests need them for offline TFDS preparation"
    )
  root = tmp_path_factory.mktemp("tfds")
  start = time.perf_counter()
  for name in ("mnist", "fashion_mnist"):
    data.prepare(name, data_dir=str(root), raw_data_dir=str(SHARED_DATA))
  seconds = time.perf_counter() - start
  print(f"prepared mnist + fashion_mnist in {seconds:.1f} s")
  return str(root)
