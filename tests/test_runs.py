"""tfnvp.runs: run folders of today and of tfnvp 0.3 load."""

import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp import runs

V03 = pathlib.Path(__file__).parent / "fixtures" / "v0_3"


def test_a_0_3_run_folder_loads_unchanged_with_the_same_density():
  before = (V03 / "realnvp_run" / "config.json").read_bytes()
  run = runs.load_run(str(V03 / "realnvp_run"))
  assert (V03 / "realnvp_run" / "config.json").read_bytes() == before
  assert run.model.flow_config == tfnvp.RealNVPConfig(
      image_shape=(28, 28, 1), num_scales=2, hidden_channels=4,
      num_res_blocks=1, network_dtype="float32")
  assert run.model.ema_decay == 0.9          # the average, restored
  assert run.checkpoint.endswith("ckpt-3")
  x = tf.random.stateless_uniform([2, 28, 28, 1], [7, 7], 0.0, 256.0)
  np.testing.assert_allclose(run.flow.log_prob(x),
                             np.load(V03 / "realnvp_run_logp.npy"),
                             rtol=1e-5)
  raw = runs.load_run(str(V03 / "realnvp_run"), averaged=False)
  assert np.abs(raw.flow.log_prob(x) - run.flow.log_prob(x)).max() > 1e-3


def test_read_config_gives_0_3_files_in_todays_layout():
  config = runs.read_config(str(V03 / "glow_run"))
  flow, optimization = runs.run_records(config, "glow_run/config.json")
  assert flow == tfnvp.GlowConfig(
      image_shape=(28, 28, 1), num_levels=2, depth=1, hidden_channels=4,
      coupling="additive", lu_decomposed=False, learn_prior=False,
      network_dtype="float32")
  assert optimization == tfnvp.OptimizationConfig(
      batch_size=16, lr_schedule="cosine", ema_decay=None)
  assert "batch_size" not in config and config["epochs"] == 1


def test_todays_layout_round_trips(tmp_path):
  shutil.copytree(V03 / "realnvp_run", tmp_path / "run")
  flow, optimization = runs.run_records(
      runs.read_config(str(tmp_path / "run")), "x")
  (tmp_path / "run" / "config.json").write_text(json.dumps(
      {"model": flow.to_dict(), "optimization": optimization.to_dict()}))
  assert runs.run_records(runs.read_config(str(tmp_path / "run")), "x") == (
      flow, optimization)
  assert runs.load_run(str(tmp_path / "run")).model.flow_config == flow


@pytest.mark.parametrize("text, message", [
    ('{"model": ', r"config.json is not valid JSON"),
    ('[1]', r"config.json must hold a JSON object with a 'model' object"),
    ('{"model": {"class_name": "RealNVP", "config": {"image_shape": [28, 28, '
     '1], "num_scales": 9}}}', r"config.json: `num_scales`=9 is too deep"),
    ('{"model": {"name": "realnvp", "image_shape": [28, 28, 1]}, '
     '"optimization": {"batch_size": 0}}',
     r"config.json: `batch_size` must be an int >= 1; got 0"),
])
def test_bad_config_files_are_named(tmp_path, text, message):
  shutil.copytree(V03 / "realnvp_run", tmp_path / "run")
  (tmp_path / "run" / "config.json").write_text(text)
  with pytest.raises(ValueError, match=message):
    runs.load_run(str(tmp_path / "run"))


def test_missing_runs_and_checkpoints_name_the_argument(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match=r"No training run in `model_dir`="):
    runs.load_run(str(tmp_path))
  shutil.copytree(V03 / "realnvp_run", tmp_path / "run")
  with pytest.raises(FileNotFoundError, match=r"`checkpoint`='.*ckpt-9' "
                     r"does not exist"):
    runs.load_run(str(tmp_path / "run"),
                  checkpoint=str(tmp_path / "run" / "checkpoints" / "ckpt-9"))
  shutil.rmtree(tmp_path / "run" / "checkpoints")
  with pytest.raises(FileNotFoundError, match=r"No checkpoint in `model_dir`"):
    runs.load_run(str(tmp_path / "run"))
