"""Fixtures of the export tests: a run folder with random (non-identity)
weights, its in-process flow, and its export (calibrated: with `score`);
and a class-conditional run, exported by `tfnvp-export`."""

import contextlib
import dataclasses
import io
import os

import numpy as np
import pytest
import tensorflow as tf

from tfnvp.export import export
from tfnvp.export import serving
from tests import kit
import tfnvp
from tfnvp import runs
from tfnvp.training import config as config_lib

# One scale: every export traces each signature's graph, loads and first
# runs optimize them, and they grow with the couplings (4 here, 10 with two
# scales). The signatures see the flow only through `flow.flow` and
# `flow.bijector`; `test_a_glow_exports_with_the_same_signatures` exports a
# flow of two levels.
MODEL = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                            hidden_channels=8, num_res_blocks=1)


# Class-conditional: 3 classes and label dropout (guidance). The label
# enters the priors, which are part of the data-to-latent map, so each
# label's map differs; the couplings stay unconditional, whose graphs are a
# third of those of conditioned ones (`classify` and the marginal run them
# once, not once per class). The signatures use the library's conditional
# API only, whichever parts see the label.
CONDITIONAL_MODEL = tfnvp.RealNVPConfig(
    image_shape=(8, 8, 1), num_scales=1, hidden_channels=8, num_res_blocks=1,
    num_classes=3, label_dropout=0.2)


@dataclasses.dataclass
class Run:
  model_dir: str
  flow: object          # tfnvp.RealNVP restored from the run's checkpoint
  base_path: str        # BASE/NAME: TF Serving's --model_base_path
  export_dir: str       # BASE/NAME/1
  calibration: object   # the export's tfnvp.OutlierCalibration


def make_run(model_dir, model_config, step):
  """Writes a run folder (config and a checkpoint at `step`) of a flow with
  random weights; returns the flow restored from it."""
  config_lib.save_config(
      config_lib.TrainConfig(dataset="mnist", model=model_config), model_dir)
  model = tfnvp.FlowModel(model_config.make_flow())
  kit.randomize_weights(model.flow_layers, 0, stddev=0.05)
  tf.train.CheckpointManager(
      runs.make_checkpoint(model),
      os.path.join(model_dir, runs.CHECKPOINT_SUBDIR),
      max_to_keep=1).save(checkpoint_number=step)
  return runs.load_run(model_dir).flow


def calibrate(flow):
  """An `OutlierCalibration` of `flow` on 40 random 8-bit images."""
  images = np.random.default_rng(5).integers(
      0, 256, size=(40, *flow.image_shape), dtype=np.uint8)
  return tfnvp.OutlierCalibration.estimate(
      flow, images, false_positive_rate=0.1, source="40 random images")


@pytest.fixture(scope="session")
def run(tmp_path_factory):
  """A training run's folder (config + checkpoint) and its SavedModel."""
  root = tmp_path_factory.mktemp("export")
  model_dir = str(root / "run")
  flow = make_run(model_dir, MODEL, step=7)
  base_path = str(root / "models" / "flow")
  calibration = calibrate(flow)
  export_dir = serving.export_saved_model(
      flow, os.path.join(base_path, "1"), calibration=calibration,
      max_samples=16, max_interpolation_steps=8)
  return Run(model_dir, flow, base_path, export_dir, calibration)


@dataclasses.dataclass
class ConditionalRun:
  model_dir: str
  flow: object          # the class-conditional tfnvp.RealNVP of the run
  base_path: str
  export_dir: str       # written by `tfnvp-export` (no calibration)
  stdout: str           # what `tfnvp-export` printed


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory):
  """A class-conditional run and its export by `tfnvp-export` (in process:
  the command's code path, without a subprocess)."""
  root = tmp_path_factory.mktemp("conditional")
  model_dir = str(root / "run")
  flow = make_run(model_dir, CONDITIONAL_MODEL, step=5)
  base_path = str(root / "models" / "digits")
  export_dir = os.path.join(base_path, "1")
  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    assert export.main([
        "--model-dir", model_dir, "--output", export_dir,
        "--calibration-examples", "0", "--max-samples", "16",
        "--max-interpolation-steps", "8"]) == 0
  return ConditionalRun(model_dir, flow, base_path, export_dir,
                        stdout.getvalue())


@pytest.fixture
def pixels():
  """Four 8-bit 8x8 images and their dequantized float32 values."""
  rng = np.random.default_rng(3)
  images = rng.integers(0, 256, size=(4, 8, 8, 1), dtype=np.uint8)
  dequantized = (images + rng.uniform(size=images.shape)).astype(np.float32)
  return images, dequantized
