"""Test-session setup: two logical CPU devices, seeded weights per test, real
MNIST data prepared once, and TFDS's mock of every supported dataset."""

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

# Must run before TensorFlow initializes its devices, i.e. before any op.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from tests.data import mock_tfds  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfnvp import data  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(autouse=True)
def _seeded_initializers():
  """Every test starts from the same Keras, NumPy and TF seeds.

  Keras initializers draw from the global seed, and `kit.randomize_weights`
  adds its noise to those initial values: without this, each run of a test
  sees different weights and a failure cannot be reproduced.
  """
  keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def mirrored_strategy():
  """One MirroredStrategy over the two logical CPUs, shared by all tests.

  Several strategies in one process reuse collective instance keys and
  their all-reduces then mix up, so tests must not create their own.
  """
  devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
  assert len(devices) == 2
  return tf.distribute.MirroredStrategy(devices)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def raw_data_dir():
  """The folder of the original MNIST and Fashion-MNIST files."""
  if not SHARED_DATA.is_dir():
    pytest.skip(
        f"raw MNIST/Fashion-MNIST files not found at {SHARED_DATA}; "
        "these tests need them for offline TFDS preparation"
    )
  return str(SHARED_DATA)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, worker_id, raw_data_dir):
  """A TFDS data_dir with mnist and fashion_mnist prepared offline, once per
  test run: pytest-xdist's workers share it (`data.prepare` lets the first
  prepare a dataset while the others wait for it)."""
  base = tmp_path_factory.getbasetemp()
  # Under xdist each worker's base is a folder of the run's base.
  root = (base if worker_id == "master" else base.parent) / "tfds"
  start = time.perf_counter()
  for name in ("mnist", "fashion_mnist"):
    data.prepare(name, data_dir=str(root), raw_data_dir=raw_data_dir)
  seconds = time.perf_counter() - start
  print(f"prepared (or found) mnist + fashion_mnist in {seconds:.1f} s")
  return str(root)


@pytest.fixture(scope="session")
def mock_root(tmp_path_factory):
  """A mock `data_dir` with the metadata of every supported dataset."""
  root = tmp_path_factory.mktemp("mock_tfds")
  for name in sorted(data.DATASETS):
    mock_tfds.write_metadata(str(root), name)
  return str(root)


@pytest.fixture
def mocked(mock_root):
  """TFDS mocked for the duration of one test."""
  with mock_tfds.mocked(mock_root):
    yield mock_root
