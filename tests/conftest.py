"""Test-session setup: two logical CPU devices, and seeded weights per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

# Must run before TensorFlow initializes its devices, i.e. before any op.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


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
