"""python -m tfnvp.export.export, checked with the loaders TF ships.

A fresh process that cannot import tfnvp, Keras or TensorFlow Probability
runs every signature through `tf.saved_model.load` and through the
session-based loader of TF Serving's C++ server; `saved_model_cli run`, the
tool built on that loader, runs one.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfnvp import data
from tfnvp.export import export
from tfnvp.export.contract import SIGNATURES
from tests.export.expected import LOADERS
from tests.export.expected import TIMEOUT
from tests.export.expected import assert_outputs_match
from tests.export.expected import expected_outputs
from tests.export.expected import requests_for
from tests.export.expected import run_in_fresh_process
from tests.export.expected import start_saved_model_cli
from tests.without_tfds import run_without_tfds

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_export(run, tmp_path_factory):
  """`python -m tfnvp.export.export` on the run, in a subprocess."""
  output = tmp_path_factory.mktemp("cli") / "models" / "flow" / "3"
  result = subprocess.run(
      [sys.executable, "-m", "tfnvp.export.export", "--model-dir", run.model_dir,
       "--output", str(output), "--max-samples", "16",
       "--calibration-examples", "0"],
      cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False)
  assert result.returncode == 0, result.stderr
  return str(output), result.stdout


def test_the_cli_writes_tf_servings_layout(cli_export):
  output, stdout = cli_export
  assert "checkpoint: " in stdout and "ckpt-7" in stdout
  assert f"exported: {output}" in stdout
  assert os.path.isfile(os.path.join(output, "saved_model.pb"))
  assert os.path.isfile(os.path.join(output, "variables",
                                     "variables.index"))
  assert sorted(os.listdir(os.path.dirname(output))) == ["3"]


def test_the_loaders_tf_ships_run_every_signature(run, cli_export, pixels,
                                                  tmp_path):
  """A process without tfnvp runs each signature through both loaders;
  `saved_model_cli run` (the tool itself, alongside) the one with the most
  inputs."""
  output, _ = cli_export
  requests = requests_for(pixels, score=False)
  proc = start_saved_model_cli(
      output, {"interpolate": requests["interpolate"]},
      tmp_path)["interpolate"]
  outputs = run_in_fresh_process(output, requests, tmp_path)
  _, stderr = proc.communicate(timeout=TIMEOUT)
  assert proc.returncode == 0, stderr[-3000:]
  expected = expected_outputs(run.flow, requests)
  assert_outputs_match({name: np.load(tmp_path / "interpolate" /
                                      f"{name}.npy")
                        for name in SIGNATURES["interpolate"].outputs},
                       expected["interpolate"])
  for loader in LOADERS:
    assert sorted(outputs[loader]) == sorted(expected), loader
    for signature, want in expected.items():
      assert sorted(outputs[loader][signature]) == sorted(
          SIGNATURES[signature].outputs), (loader, signature)
      assert_outputs_match(outputs[loader][signature], want)


@pytest.mark.parametrize("make_args, message", [
    (lambda run, tmp: ["--model-dir", str(tmp / "none"), "--output",
                       str(tmp / "m" / "1")],
     "No training run in --model-dir="),
    (lambda run, tmp: ["--model-dir", run.model_dir, "--output",
                       str(tmp / "m" / "v1")],
     "must end in a numeric version folder"),
    (lambda run, tmp: ["--model-dir", run.model_dir, "--output",
                       run.export_dir],
     "exists; pick a new version number"),
    (lambda run, tmp: ["--model-dir", run.model_dir, "--output",
                       str(tmp / "m" / "1"), "--max-samples", "0"],
     "argument --max-samples: must be an int >= 1; got '0'"),
])
def test_bad_arguments_exit_2_with_a_message(run, tmp_path, capsys,
                                             make_args, message):
  with pytest.raises(SystemExit) as exit_info:
    export.main(make_args(run, tmp_path))
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / "m" / "1").exists()


def test_an_uncalibrated_export_needs_no_tensorflow_datasets(run, tmp_path):
  """`--calibration-examples 0` exports without importing TFDS; where it
  is missing, a calibrated export fails in one line that says to install
  the `data` extra, and writes nothing."""
  output, refused = tmp_path / "m" / "1", tmp_path / "m" / "2"
  result = run_without_tfds(f"""
      import sys
      from tfnvp.export import export
      assert export.main([
          "--model-dir", {run.model_dir!r}, "--output", {str(output)!r},
          "--calibration-examples", "0"]) == 0
      assert "tensorflow_datasets" not in sys.modules
      assert "tfnvp.data" not in sys.modules
      export.main(["--model-dir", {run.model_dir!r}, "--output",
                   {str(refused)!r}])
      """)
  assert os.path.isfile(output / "saved_model.pb"), result.stderr[-3000:]
  assert "signatures: serving_default, log_prob, sample, encode, decode, " \
      "interpolate\n" in result.stdout, result.stdout
  assert result.returncode == 2, result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert result.stderr.splitlines()[-1] == (
      "tfnvp-export: error: tfnvp.data.pixel_batches needs TensorFlow "
      'Datasets, which is not installed: pip install "tfnvp[data]"')
  assert not refused.exists()


def test_the_help_names_the_raw_data_variable():
  assert f"${data.RAW_DATA_DIR_ENV}" in export.build_parser().format_help()
