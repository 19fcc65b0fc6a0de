"""TrainConfig: the run's record, its JSON file, and 0.3's files."""

import dataclasses
import json
import pathlib
import shutil

import pytest

import tfnvp
from tfnvp.training import config as config_lib

V03 = pathlib.Path(__file__).parents[1] / "fixtures" / "v0_3"


def test_a_0_3_config_json_loads_unchanged():
  config = config_lib.load_config(str(V03 / "realnvp_run"))
  assert config == config_lib.TrainConfig(
      dataset="mnist",
      model=tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=2,
                                hidden_channels=4, num_res_blocks=1,
                                network_dtype="float32"),
      optimization=tfnvp.OptimizationConfig(
          batch_size=16, lr_schedule="cosine", ema_decay=0.9),
      epochs=1, steps_per_epoch=3, bn_recalibration_batches=50,
      checkpoint_every=3, num_eval_examples=64)
  glow = config_lib.load_config(str(V03 / "glow_run"))
  assert isinstance(glow.model, tfnvp.GlowConfig)
  assert (glow.model.lu_decomposed, glow.model.learn_prior) == (False, False)


def test_save_and_load_round_trip_in_todays_layout(tmp_path):
  config = config_lib.load_config(str(V03 / "glow_run"))
  config = dataclasses.replace(config, preset="glow-cifar10", seed=3)
  path = config_lib.save_config(config, str(tmp_path))
  raw = json.loads(pathlib.Path(path).read_text())
  assert raw["model"]["class_name"] == "Glow"
  assert raw["optimization"]["batch_size"] == 16
  assert config_lib.load_config(str(tmp_path)) == config
  assert not list(tmp_path.glob("*.tmp-*"))


@pytest.mark.parametrize("change, message", [
    (dict(epochs=0), r"config.json: `epochs` must be an int >= 1; got 0"),
    (dict(strategy="tpu"), r"`strategy` must be one of .*got 'tpu'"),
    (dict(colour="red"), r"config.json: unknown field\(s\) \['colour'\]"),
    (dict(sample_temperature=-1.0), r"`sample_temperature` must be a finite "
     r"number > 0; got -1.0"),
])
def test_bad_fields_name_the_file(tmp_path, change, message):
  shutil.copytree(V03 / "realnvp_run", tmp_path / "run")
  path = tmp_path / "run" / "config.json"
  path.write_text(json.dumps(dict(json.loads(path.read_text()), **change)))
  with pytest.raises(ValueError, match=message):
    config_lib.load_config(str(tmp_path / "run"))


def test_from_values_layers_recipe_preset_and_given():
  preset = tfnvp.presets.get_preset("realnvp-cifar10")
  config = config_lib.from_values(dict(hidden_channels=8, epochs=3),
                                  (32, 32, 3), preset=preset)
  assert config.model == dataclasses.replace(preset.model, hidden_channels=8)
  assert config.optimization == preset.optimization
  assert (config.epochs, config.preset, config.dataset) == (
      3, "realnvp-cifar10", "cifar10")
  # The recipe's run field, which the preset does not set.
  assert config.bn_recalibration_batches == (
      config_lib.RECIPES["realnvp"]["bn_recalibration_batches"])
  with pytest.raises(ValueError, match=r"unknown field `width`"):
    config_lib.from_values(dict(width=8), (28, 28, 1))
  with pytest.raises(ValueError, match=r"`depth` is a field of Glow, not of "
                     r"RealNVP"):
    config_lib.from_values(dict(depth=2), (28, 28, 1))
