"""Every `--dataset`, end to end, on data TFDS fakes offline.

Only MNIST and Fashion-MNIST files exist offline, so the other datasets run
on `tfds.testing.mock_data` (see `tests/data/mock_tfds.py`; the data
pipeline of each dataset is checked on it in
`tests/data/test_mock_datasets.py`).

Each dataset trains its paper architecture (`tfnvp.presets`: the
preset's depth and scales, narrowed to 4 hidden channels, 1 residual block,
Glow depth 1; MNIST and Fashion-MNIST, which have no preset, a 2-scale Real
NVP) for two steps, is evaluated and exported, and the SavedModel's
`serving_default` is called on uint8 images; the Glow presets run too,
the class-conditional one with a conditional export. The default suite
runs the 3-level Glow on ImageNet 32x32; the other runs, the 5-scale 64x64
ones among them, are `slow` (`pytest -m slow`).
"""

import csv
import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests.data import mock_tfds
from tests.data.mock_tfds import undequantize
from tfnvp import presets
from tfnvp.export import export as export_lib
from tfnvp.training import config as config_lib
from tfnvp import data
from tfnvp.training import evaluate as evaluate_lib
from tfnvp.training import train as train_lib


# --- train, evaluate and export every dataset's paper architecture -----------

# (dataset, preset) of every run; `None`: no paper preset (2-scale Real NVP).
# The default suite runs a 3-level 32x32 Glow (~15 s); the others are
# `slow`, among them the 5-scale 64x64 Real NVPs (~100 s each) and CIFAR-10's
# 2-scale Real NVP (~30 s). The kit checks every depth in
# tests/flows/test_depths.py.
_slow = pytest.mark.slow
RUNS = [
    pytest.param("lsun/bedroom", "realnvp-lsun-bedroom",
                 id="lsun_bedroom-realnvp", marks=_slow),
    pytest.param("cifar10", "realnvp-cifar10", id="cifar10-realnvp",
                 marks=_slow),
    pytest.param("downsampled_imagenet/32x32", "glow-imagenet32",
                 id="imagenet32-glow"),
    pytest.param("mnist", None, id="mnist-realnvp", marks=_slow),
    pytest.param("fashion_mnist", None, id="fashion_mnist-realnvp",
                 marks=_slow),
    pytest.param("downsampled_imagenet/32x32", "realnvp-imagenet32",
                 id="imagenet32-realnvp", marks=_slow),
    pytest.param("downsampled_imagenet/64x64", "realnvp-imagenet64",
                 id="imagenet64-realnvp", marks=_slow),
    pytest.param("celeb_a", "realnvp-celeba", id="celeb_a-realnvp",
                 marks=_slow),
    pytest.param("lsun/church_outdoor", "realnvp-lsun-church_outdoor",
                 id="lsun_church_outdoor-realnvp", marks=_slow),
    pytest.param("lsun/tower", "realnvp-lsun-tower", id="lsun_tower-realnvp",
                 marks=_slow),
    pytest.param("cifar10", "glow-cifar10", id="cifar10-glow", marks=_slow),
    # Class-conditional: CIFAR-10's labels, the hybrid loss, a conditional
    # export.
    pytest.param("cifar10", "glow-cifar10-ycond", id="cifar10-glow-ycond",
                 marks=_slow),
]
# Narrower than the papers' so that a run takes seconds; depth and scales
# stay the preset's.
NARROW = {"realnvp": dict(hidden_channels=4, num_res_blocks=1),
          "glow": dict(hidden_channels=4, depth=1)}
NUM_EVAL = 6


def test_every_dataset_and_preset_has_a_run():
  runs = [p.values for p in RUNS]
  assert {dataset for dataset, _ in runs} == set(data.DATASETS)
  assert {preset for _, preset in runs} - {None} == set(presets.PRESETS)
  for dataset, name in runs:
    if name is not None:
      preset = presets.get_preset(name)
      assert preset.dataset == dataset
      assert preset.image_shape == data.DATASETS[dataset].image_shape
    else:
      assert dataset not in {p.dataset for p in presets.PRESETS.values()}


def _config(dataset, preset_name):
  """A two-step run of `preset_name`'s architecture (narrowed) on `dataset`."""
  image_shape = data.DATASETS[dataset].image_shape
  if preset_name is None:
    model = tfnvp.RealNVPConfig(image_shape=image_shape, num_scales=2)
    optimization = tfnvp.OptimizationConfig()
  else:
    preset = presets.get_preset(preset_name)
    model = dataclasses.replace(preset.model, image_shape=image_shape)
    optimization = preset.optimization
  model = dataclasses.replace(
      model, network_dtype="float32",
      **NARROW[model.class_name.lower()])
  return config_lib.TrainConfig(
      dataset=dataset, model=model,
      optimization=dataclasses.replace(optimization, batch_size=4),
      epochs=1, steps_per_epoch=2, checkpoint_every=2,
      num_eval_examples=NUM_EVAL, preset=preset_name)


@pytest.mark.parametrize(("dataset", "preset_name"), RUNS)
def test_train_evaluate_export(dataset, preset_name, mock_root, tmp_path):
  spec = data.DATASETS[dataset]
  config = _config(dataset, preset_name)
  if preset_name is not None:  # the paper's depth of scales (levels)
    preset = presets.get_preset(preset_name)
    assert type(config.model) is type(preset.model)
    assert config.model.kwargs().get("num_scales") == (
        preset.model.kwargs().get("num_scales"))
    assert config.model.kwargs().get("num_levels") == (
        preset.model.kwargs().get("num_levels"))
  model_dir = str(tmp_path / "run")
  with mock_tfds.mocked(mock_root):
    train_lib.train(config, model_dir, raw_data_dir="", verbose=0)
    bpd, checkpoint = evaluate_lib.evaluate(
        model_dir, batch_size=4, num_examples=NUM_EVAL, raw_data_dir="")
    # What `evaluate` saw: the first examples of the eval split.
    eval_images = np.concatenate([b.numpy() for b in data.make_dataset(
        dataset, spec.eval_split, 4, training=False, raw_data_dir="",
        num_examples=NUM_EVAL, drop_remainder=False)])

  assert config_lib.load_config(model_dir) == config
  with open(os.path.join(model_dir, train_lib.HISTORY_FILE),
            encoding="utf-8") as f:
    history = list(csv.DictReader(f))
  assert len(history) == 1
  for key in ("loss", "bits_per_dim", "val_bits_per_dim"):
    assert np.isfinite(float(history[0][key])), (key, history[0])
  assert os.path.exists(os.path.join(model_dir, train_lib.FINAL_SAMPLES))
  assert os.path.basename(checkpoint) == "ckpt-2"
  assert np.isfinite(bpd) and 0.0 < bpd < 64.0, bpd

  with mock_tfds.mocked(mock_root):
    # Calibrated on the dataset's own (mocked) training images.
    output, exported, calibration = export_lib.export_run(
        model_dir, str(tmp_path / "models" / "flow" / "1"), max_samples=4,
        max_interpolation_steps=4, calibration_examples=20,
        false_positive_rate=0.1, raw_data_dir="")
  assert exported == checkpoint
  assert calibration.source == f"{dataset} {spec.train_split}[:20]"
  signatures = tf.saved_model.load(output).signatures
  num_dims = spec.num_dims
  images = undequantize(eval_images[:2])
  scores = signatures["score"](images=tf.constant(images))
  assert scores["is_outlier"].shape == (2,)
  assert np.isfinite(scores["ood_score"].numpy()).all(), scores
  # A conditional export takes a label per image; its marginal is what
  # `evaluate` and `score` measure.
  conditional = config.model.num_classes is not None

  def labels(n):
    return {"labels": tf.zeros([n], tf.int32)} if conditional else {}

  out = signatures["serving_default"](images=tf.constant(images),
                                      **labels(2))
  for key in ("log_prob", "bits_per_dim"):
    assert out[key].shape == (2,) and out[key].dtype == tf.float32
    assert np.isfinite(out[key].numpy()).all(), out
  np.testing.assert_allclose(
      out["bits_per_dim"], -out["log_prob"] / (num_dims * np.log(2.0)),
      rtol=1e-6)
  # The exported flow is the evaluated checkpoint: same bits/dim on the
  # same dequantized images.
  log_prob = signatures["log_prob"](images=tf.constant(eval_images),
                                    **labels(len(eval_images)))
  served_bpd = -np.mean(log_prob[
      "marginal_log_prob" if conditional else "log_prob"].numpy()) / (
          num_dims * np.log(2.0))
  np.testing.assert_allclose(served_bpd, bpd, rtol=1e-4)

