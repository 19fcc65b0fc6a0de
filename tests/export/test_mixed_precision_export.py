"""A run whose coupling networks compute in bfloat16 exports like a float32
one: same signatures, float32 inputs and outputs, TF's loaders run it."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from tests import kit
from tests.export.conftest import MODEL
from tests.export.conftest import calibrate
from tests.export.conftest import make_run
from tests.export.expected import assert_outputs_match
from tests.export.expected import expected_outputs
from tests.export.expected import requests_for
from tests.export.expected import start_saved_model_cli
from tfnvp.export import serving
from tfnvp.export.contract import SIGNATURES

TIMEOUT = 300


def test_a_bfloat16_run_exports_and_serves(tmp_path, pixels):
  flow = make_run(str(tmp_path / "run"), dataclasses.replace(
      MODEL, network_dtype="bfloat16"), step=1)
  assert flow.network_dtype == "bfloat16"
  calibration = calibrate(flow)
  export_dir = serving.export_saved_model(
      flow, str(tmp_path / "models" / "flow" / "1"), calibration=calibration,
      max_samples=16, max_interpolation_steps=8)
  loaded = tf.saved_model.load(export_dir)
  for name, contract in SIGNATURES.items():
    function = loaded.signatures[name]
    for arg, spec in function.structured_input_signature[1].items():
      assert spec.dtype.name == contract.inputs[arg], (name, arg)
    for out, spec in function.structured_outputs.items():
      assert spec.dtype.name == contract.outputs[out], (name, out)
  requests = requests_for(pixels)
  expected = expected_outputs(flow, requests, calibration)
  procs = start_saved_model_cli(export_dir, requests, tmp_path)
  np.savez(tmp_path / "in.npz", **{f"{s}/{n}": v for s, inputs in
                                   requests.items() for n, v in
                                   inputs.items()})
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  fresh = subprocess.run(
      [sys.executable, str(Path(__file__).with_name("fresh_load.py")),
       export_dir, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
      cwd=tmp_path, env=env, capture_output=True, text=True,
      timeout=TIMEOUT, check=False)
  assert fresh.returncode == 0, fresh.stderr[-3000:]
  fresh_outputs = np.load(tmp_path / "out.npz")
  for signature, proc in procs.items():
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr[-3000:]
    outputs = {name: np.load(tmp_path / signature / f"{name}.npy")
               for name in SIGNATURES[signature].outputs}
    assert_outputs_match(outputs, expected[signature],
                         kit.MIXED_PRECISION_MODES)
    assert_outputs_match({name: fresh_outputs[f"{signature}/{name}"]
                          for name in outputs}, expected[signature],
                         kit.MIXED_PRECISION_MODES)
