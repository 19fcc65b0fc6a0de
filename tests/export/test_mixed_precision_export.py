"""A run whose coupling networks compute in bfloat16 exports like a float32
one: same signatures, float32 inputs and outputs, TF's loaders run it."""

import dataclasses

import tensorflow as tf

from tests import kit
from tests.export.conftest import MODEL
from tests.export.conftest import calibrate
from tests.export.conftest import make_run
from tests.export.expected import LOADERS
from tests.export.expected import assert_outputs_match
from tests.export.expected import expected_outputs
from tests.export.expected import requests_for
from tests.export.expected import run_in_fresh_process
from tfnvp.export import serving
from tfnvp.export.contract import SIGNATURES


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
  # TF Serving's session loader and `tf.saved_model.load`, without tfnvp.
  outputs = run_in_fresh_process(export_dir, requests, tmp_path)
  for loader in LOADERS:
    assert sorted(outputs[loader]) == sorted(SIGNATURES), loader
    for signature, want in expected.items():
      got = outputs[loader][signature]
      assert sorted(got) == sorted(SIGNATURES[signature].outputs), (
          loader, signature)
      assert_outputs_match(got, want, kit.MIXED_PRECISION_MODES)
