"""Tests of tfnvp/data/specs.py."""

import dataclasses

import pytest

from tests.without_tfds import run_without_tfds
from tfnvp import data


def test_dataset_specs() -> None:
  assert data.DATASETS["mnist"].image_shape == (28, 28, 1)
  assert not data.DATASETS["mnist"].horizontal_flip
  assert not data.DATASETS["fashion_mnist"].horizontal_flip
  assert data.DATASETS["cifar10"].horizontal_flip
  assert data.DATASETS["celeb_a"].image_shape == (64, 64, 3)
  assert data.DATASETS["downsampled_imagenet/64x64"].eval_split == "validation"
  assert data.DATASETS["mnist"].num_dims == 784
  with pytest.raises(dataclasses.FrozenInstanceError):
    data.DATASETS["mnist"].horizontal_flip = True  # type: ignore[misc]
  with pytest.raises(TypeError):
    data.DATASETS["foo"] = data.DATASETS["mnist"]  # type: ignore[index]


def test_specs_and_preprocessing_work_without_tensorflow_datasets():
  """Without the `data` extra: the specs and the preprocessing import and
  run; the TFDS-backed names raise an `ImportError` that says what to
  install."""
  result = run_without_tfds("""
      import sys
      import tfnvp.data.specs
      from tfnvp import data
      assert data.get_spec("mnist").image_shape == (28, 28, 1)
      assert data.dequantize([[255]], seed=[1, 2]).numpy().max() < 256.0
      assert "tensorflow_datasets" not in sys.modules
      try:
        data.make_dataset
      except ImportError as err:
        print(err)
      """)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout == (
      "tfnvp.data.make_dataset needs TensorFlow Datasets, which is not "
      'installed: pip install "tfnvp[data]"\n'), result.stdout
