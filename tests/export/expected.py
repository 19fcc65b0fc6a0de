"""One request per serving signature, and what the in-process flow answers."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import tfnvp

__all__ = ["LOADERS", "TIMEOUT", "assert_outputs_match",
           "assert_scores_match", "conditional_requests_for",
           "expected_outputs", "requests_for", "run_in_fresh_process",
           "start_saved_model_cli"]

# The loaders `fresh_load.py` runs every signature through.
LOADERS = ("object", "session")
# Seconds a subprocess of the export tests may take.
TIMEOUT = 300


def requests_for(pixels, score=True):
  """One request per signature (`score` too, if `score`):
  `{signature: {input: array}}`."""
  images, dequantized = pixels
  requests = {
      "serving_default": {"images": images},
      "log_prob": {"images": dequantized},
      "sample": {"num_samples": np.int32(3), "temperature": np.float32(0.8),
                 "seed": np.array([12, 34], np.int64)},
      "encode": {"images": dequantized},
      "decode": {"z": np.random.default_rng(0).normal(
          0, 0.5, dequantized.shape).astype(np.float32)},
      "interpolate": {"images_a": dequantized[:2],
                      "images_b": dequantized[2:],
                      "num_steps": np.int32(4)},
  }
  if score:
    requests["score"] = {"images": images}
  return requests


def conditional_requests_for(pixels, labels):
  """One request per signature of a class-conditional model (its `score`
  is the unconditional one), and `"sample@guided"`, `sample` with guidance
  1: `{request: {input: array}}`.

  Args:
    pixels: the `pixels` fixture, 4 images.
    labels: int32 `[4]`, the images' labels.
  """
  requests = requests_for(pixels, score=False)
  for inputs in requests.values():
    inputs["labels"] = labels
  requests["interpolate"]["labels"] = labels[:2]
  sample = requests.pop("sample")
  del sample["num_samples"]
  requests["sample"] = {**sample, "labels": labels[::-1][:3],
                        "guidance": np.float32(0.0)}
  requests["sample@guided"] = {**requests["sample"],
                               "guidance": np.float32(1.0)}
  requests["classify"] = {"images": pixels[0]}
  return requests


def _given(flow, inputs):
  """The distribution of a request's images: the flow, or given `labels`."""
  return flow.given(inputs["labels"]) if "labels" in inputs else flow


def _densities(flow, inputs, x):
  """`log_prob` (and its `bits_per_dim`) of `x`, and the marginal's given
  labels."""
  distribution = _given(flow, inputs)
  out = {"log_prob": distribution.log_prob(x),
         "bits_per_dim": tfnvp.bits_per_dim(distribution, x)}
  if "labels" in inputs:
    out.update(marginal_log_prob=flow.marginal_log_prob(x),
               marginal_bits_per_dim=tfnvp.bits_per_dim(flow, x))
  return out


def _sample(flow, inputs):
  temperature = float(inputs["temperature"])
  seed = tf.constant(inputs["seed"], tf.int32)
  if "labels" in inputs:
    samples = tfnvp.sample_at_temperature(
        flow.given(inputs["labels"], float(inputs["guidance"])), (),
        temperature, seed=seed)
  else:
    samples = tfnvp.sample_at_temperature(
        flow, int(inputs["num_samples"]), temperature, seed=seed)
  return {"images": samples, "pixels": tfnvp.to_uint8(samples)}


def _interpolate(flow, inputs):
  distribution = _given(flow, inputs)
  a = distribution.flow.forward(inputs["images_a"])
  b = distribution.flow.forward(inputs["images_b"])
  phi = np.linspace(0, math.pi / 2, int(inputs["num_steps"]))
  path = [distribution.bijector.forward(math.cos(p) * a + math.sin(p) * b)
          for p in phi]
  return {"images": tf.stack(path, axis=1)}


def _classify(flow, inputs):
  log_probs = flow.classify(inputs["images"].astype(np.float32) + 0.5)
  return {"log_probs": log_probs,
          "label": tf.argmax(log_probs, axis=-1, output_type=tf.int32)}


# What the library computes for each signature's request.
_EXPECTED = {
    "serving_default": lambda flow, inputs: _densities(
        flow, inputs, inputs["images"].astype(np.float32) + 0.5),
    "log_prob": lambda flow, inputs: {
        name: value for name, value in _densities(
            flow, inputs, inputs["images"]).items()
        if "bits_per_dim" not in name},
    "sample": _sample,
    "encode": lambda flow, inputs: {
        "z": _given(flow, inputs).flow.forward(inputs["images"])},
    "decode": lambda flow, inputs: {
        "images": _given(flow, inputs).bijector.forward(inputs["z"])},
    "interpolate": _interpolate,
    "classify": _classify,
}


def expected_outputs(flow, requests, calibration=None):
  """What the in-process flow (and `calibration`, for `score`) computes
  for each request (`{request: {input: array}}`, a request named by its
  signature or `<signature>@<variant>`); a request with `labels` is
  computed with `flow.given(labels)`."""
  expected = {}
  for request, inputs in requests.items():
    signature = request.split("@")[0]
    if signature == "score":
      expected[request] = calibration.scores(flow, inputs["images"])
    else:
      expected[request] = _EXPECTED[signature](flow, inputs)
  return expected


def assert_outputs_match(outputs, expected, modes_tolerance=None):
  """float32 agreement; `pixels` may differ where a value sits on an edge.

  `modes_tolerance` (`(rtol, atol)`, e.g. `kit.MIXED_PRECISION_MODES`)
  replaces the float32 tolerances for a flow whose low-precision networks
  round differently in the exported graph than eagerly; decoded `images`
  (pixel values, through every coupling) then get half a pixel level and
  `pixels` one level.
  """
  for name, want in expected.items():
    got, want = np.asarray(outputs[name]), np.asarray(want)
    assert got.shape == want.shape, name
    if got.dtype == bool:
      np.testing.assert_array_equal(got, want, err_msg=name)
    elif name == "pixels" and modes_tolerance is not None:
      assert np.abs(got.astype(int) - want).max() <= 1, name
    elif name == "pixels":
      assert np.mean(got != want) < 0.01, name
    elif modes_tolerance is not None:
      rtol, atol = modes_tolerance
      atol = max(atol, 0.5) if name == "images" else atol
      np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                 err_msg=name)
    elif name == "log_prob":
      np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=name)
    else:
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3,
                                 err_msg=name)


def assert_scores_match(served, local, calibration):
  """Served `score` outputs against the in-process `calibration.scores`.

  The measured scores (bits/dim, complexity) must agree in float32. The
  derived ones must be their definitions applied to the served
  measurements: typicality divides by the calibration's spread of bits/dim,
  which amplifies the round-off of a graph run elsewhere, and `is_outlier`
  flips for a score within round-off of its threshold.
  """
  measured = ("bits_per_dim", "complexity_bits_per_dim")
  assert sorted(served) == sorted(local)
  for name in measured:
    np.testing.assert_allclose(served[name], local[name], rtol=1e-5,
                               atol=1e-5, err_msg=name)
  derived = calibration.decide(*(served[name] for name in measured))
  for name in set(served) - set(measured):
    np.testing.assert_allclose(served[name], derived[name], rtol=1e-5,
                               atol=1e-5, err_msg=name)


def start_saved_model_cli(export_dir, requests, tmp_path):
  """Starts one `saved_model_cli run` per signature of `requests`, at once.

  Each signature's inputs are saved as `.npy` files in `tmp_path`; its
  outputs go to `tmp_path/<signature>/<output>.npy`.

  Returns:
    `{signature: subprocess.Popen}` with text stdout and stderr pipes.
  """
  cli = Path(sys.executable).parent / "saved_model_cli"
  procs = {}
  for signature, inputs in requests.items():
    arguments = []
    for name, value in inputs.items():
      path = tmp_path / f"{signature}-{name}.npy"
      np.save(path, value)
      arguments.append(f"{name}={path}")
    procs[signature] = subprocess.Popen(
        [str(cli), "run", "--dir", export_dir, "--tag_set", "serve",
         "--signature_def", signature, "--inputs", ";".join(arguments),
         "--outdir", str(tmp_path / signature)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  return procs


def run_in_fresh_process(export_dir, requests, tmp_path,
                         session_requests=None):
  """Runs `requests` through both of TF's loaders in a fresh process that
  cannot import tfnvp, Keras or TensorFlow Probability (`fresh_load.py`).

  Args:
    export_dir: the SavedModel.
    requests: `{request: {input: array}}`.
    tmp_path: a folder for the arrays.
    session_requests: names of `requests` the `session` loader runs (it
      optimizes each signature's graph when first run: seconds each), or
      `None` for all of them.

  Returns:
    `{loader: {request: {output: array}}}` for each of `LOADERS`.
  """
  np.savez(tmp_path / "in.npz", **{f"{s}/{n}": v for s, inputs in
                                   requests.items() for n, v in
                                   inputs.items()})
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run(
      [sys.executable, str(Path(__file__).with_name("fresh_load.py")),
       export_dir, str(tmp_path / "in.npz"), str(tmp_path / "out.npz"),
       *([",".join(session_requests)] if session_requests else [])],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  outputs = {}
  with np.load(tmp_path / "out.npz") as saved:
    for key in saved.files:
      loader, request, name = key.split("/")
      outputs.setdefault(loader, {}).setdefault(request, {})[name] = (
          saved[key])
  assert sorted(outputs) == sorted(LOADERS), sorted(outputs)
  return outputs
