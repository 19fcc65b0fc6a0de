"""export.serving: the signatures equal the flow, and bad requests fail."""

import math
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp.export import serving
from tfnvp.export.contract import SIGNATURES
from tests import kit
from tests.export import serving_doubles
from tests.export.conftest import MODEL
from tests.export.expected import LOADERS
from tests.export.expected import assert_scores_match
from tests.export.expected import TIMEOUT
from tests.export.expected import run_in_fresh_process
from tests.export.expected import start_saved_model_cli


@pytest.fixture(scope="module")
def loaded(run):
  return tf.saved_model.load(run.export_dir).signatures


@pytest.fixture(scope="module")
def session_model(run):
  """The export in a TF1 session, fed as TF Serving's C++ server feeds it."""
  return serving_doubles.SessionModel.shared(run.base_path, "flow")


def _seed(a, b):
  return tf.constant([a, b], tf.int64)


def test_the_saved_model_has_the_contract_signatures(run, loaded):
  assert sorted(loaded) == sorted(SIGNATURES)
  for name, signature in SIGNATURES.items():
    fn = loaded[name]
    inputs = fn.structured_input_signature[1]
    assert {k: v.dtype.name for k, v in inputs.items()} == signature.inputs
    assert {k: v.dtype.name for k, v in fn.structured_outputs.items()} == \
        signature.outputs
    # The contract's shapes: its ints are the declared sizes, its names any
    # size (the model's own H, W, C are declared too).
    for k, spec in inputs.items():
      pattern = signature.input_shapes[k]
      assert len(spec.shape) == len(pattern), (name, k)
      for dim, size in zip(pattern, spec.shape.as_list()):
        assert size == dim if isinstance(dim, int) else size in (
            None, *run.flow.image_shape), (name, k)
  assert sorted(os.listdir(run.base_path)) == ["1"]   # no staging leftovers
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(run.export_dir).st_mode & 0o777 == 0o777 & ~umask


def test_log_prob_and_serving_default_equal_the_flow(run, loaded, pixels):
  images, dequantized = pixels
  np.testing.assert_allclose(loaded["log_prob"](images=dequantized)["log_prob"],
                             run.flow.log_prob(dequantized), rtol=1e-6)
  out = loaded["serving_default"](images=images)
  centres = images.astype(np.float32) + 0.5
  np.testing.assert_allclose(out["log_prob"], run.flow.log_prob(centres),
                             rtol=1e-6)
  np.testing.assert_allclose(out["bits_per_dim"],
                             tfnvp.bits_per_dim(run.flow, centres), rtol=1e-6)
  assert out["log_prob"].shape == (4,)


def test_sample_is_the_flow_sample_at_that_temperature_and_seed(run, loaded):
  out = loaded["sample"](num_samples=tf.constant(5),
                         temperature=tf.constant(0.7), seed=_seed(4, 9))
  expected = tfnvp.sample_at_temperature(run.flow, 5, 0.7, seed=[4, 9])
  np.testing.assert_allclose(out["images"], expected, rtol=1e-5, atol=1e-3)
  np.testing.assert_array_equal(out["pixels"], tfnvp.to_uint8(out["images"]))
  again = loaded["sample"](num_samples=tf.constant(5),
                           temperature=tf.constant(0.7), seed=_seed(4, 9))
  np.testing.assert_array_equal(again["images"], out["images"])
  other = loaded["sample"](num_samples=tf.constant(5),
                           temperature=tf.constant(0.7), seed=_seed(4, 10))
  assert np.abs(other["images"] - out["images"]).max() > 1.0


def test_encode_and_decode_are_the_flow_and_inverse_of_each_other(
    run, loaded, pixels):
  _, dequantized = pixels
  z = loaded["encode"](images=dequantized)["z"]
  np.testing.assert_allclose(z, run.flow.flow.forward(dequantized), rtol=1e-5,
                             atol=1e-5)
  assert z.shape == dequantized.shape
  np.testing.assert_allclose(loaded["decode"](z=z)["images"], dequantized,
                             rtol=1e-5, atol=2e-3)
  # Latents near the data's: far out, float32's sigmoid saturates and decode
  # returns the end of the domain, where the logit is infinite.
  latent = z + 0.3 * tf.random.stateless_normal(z.shape, seed=[1, 1])
  decoded = loaded["decode"](z=latent)["images"]
  np.testing.assert_allclose(loaded["encode"](images=decoded)["z"], latent,
                             rtol=1e-4, atol=1e-4)


def test_interpolate_follows_the_latent_arc_between_the_two_images(
    loaded, pixels):
  _, dequantized = pixels
  a, b = dequantized[:2], dequantized[2:]
  path = loaded["interpolate"](images_a=a, images_b=b,
                               num_steps=tf.constant(3))["images"]
  assert path.shape == (2, 3, 8, 8, 1)
  np.testing.assert_allclose(path[:, 0], a, atol=2e-3)
  np.testing.assert_allclose(path[:, -1], b, atol=2e-3)
  z_a = loaded["encode"](images=a)["z"]
  z_b = loaded["encode"](images=b)["z"]
  middle = math.cos(math.pi / 4) * z_a + math.sin(math.pi / 4) * z_b
  np.testing.assert_allclose(path[:, 1], loaded["decode"](z=middle)["images"],
                             rtol=1e-4, atol=2e-3)


def _bad(pixels):
  images, dequantized = pixels
  out_of_range = dequantized.copy()
  out_of_range[0, 0, 0, 0] = 256.0
  with_nan = dequantized.copy()
  with_nan[1, 2, 3, 0] = np.nan
  ok_sample = dict(num_samples=tf.constant(2), temperature=tf.constant(1.0),
                   seed=_seed(1, 2))
  return [
      ("log_prob", dict(images=out_of_range),
       r"`images` must be finite and in \[0, 256\); got\] \[1\]"),
      ("log_prob", dict(images=with_nan), r"of which NaN or inf:\] \[1\]"),
      ("log_prob", dict(images=-dequantized - 1), "in \\[0, 256\\)"),
      ("encode", dict(images=out_of_range * 2), "`images` must be finite and"
       r" in \(-14.2222, 270.222\)"),
      ("decode", dict(z=with_nan), "`z` must be finite"),
      ("sample", {**ok_sample, "num_samples": tf.constant(0)},
       r"`num_samples` must be a scalar in \[1, 16\]; got\] \[0\]"),
      ("sample", {**ok_sample, "num_samples": tf.constant(17)},
       r"`num_samples` .* got\] \[17\]"),
      ("sample", {**ok_sample, "temperature": tf.constant(0.0)},
       r"`temperature` must be a finite scalar > 0; got\] \[0\]"),
      ("sample", {**ok_sample, "temperature": tf.constant(np.nan,
                                                          tf.float32)},
       "`temperature` must be a finite scalar > 0"),
      ("sample", {**ok_sample, "seed": _seed(1, 2**40)},
       "`seed` must be two int64 values within int32 range"),
      ("interpolate", dict(images_a=dequantized, images_b=dequantized[:2],
                           num_steps=tf.constant(3)),
       r"must hold the same number of images; got\] \[4\] \[and\] \[2\]"),
      ("interpolate", dict(images_a=dequantized, images_b=dequantized,
                           num_steps=tf.constant(1)),
       r"`num_steps` must be a scalar in \[2, 8\]; got\] \[1\]"),
  ]


@pytest.fixture(scope="module")
def nan_export(run, tmp_path_factory):
  """The export of a flow with one NaN weight, which makes every float
  output NaN, calibrated as `run` (estimating on a NaN flow is refused)."""
  flow = MODEL.make_flow()
  flow.log_prob(tf.zeros([1, *flow.image_shape]))   # creates the variables
  bias = next(v for v in flow.variables if v.path.endswith("bias"))
  bias.assign(tf.fill(bias.shape, np.nan))
  base_path = str(tmp_path_factory.mktemp("nan") / "flow")
  path = serving.export_saved_model(flow, os.path.join(base_path, "1"),
                                    calibration=run.calibration,
                                    max_samples=4)
  return path, serving_doubles.SessionModel(base_path, "flow")


def test_non_finite_outputs_are_errors_naming_signature_and_output(
    nan_export, pixels):
  """Each signature refuses to answer, with the count of non-finite
  values; through TF Serving's session loader too when the request fetches
  only an output that is not a float (`output_filter`)."""
  path, session = nan_export
  images, dequantized = pixels
  calls = {
      "serving_default": (dict(images=images), "output `log_prob`", 4),
      "log_prob": (dict(images=dequantized), "output `log_prob`", 4),
      "sample": (dict(num_samples=tf.constant(2),
                      temperature=tf.constant(0.5), seed=_seed(1, 2)),
                 "output `images`", 128),
      "encode": (dict(images=dequantized), "output `z`", 256),
      "decode": (dict(z=tf.zeros([4, 8, 8, 1])), "output `images`", 256),
      "interpolate": (dict(images_a=dequantized[:2],
                           images_b=dequantized[2:],
                           num_steps=tf.constant(3)),
                      "latents of `images_a` and `images_b`", 256),
      "score": (dict(images=images), "output `bits_per_dim`", 4),
  }
  assert sorted(calls) == sorted(SIGNATURES)
  loaded = tf.saved_model.load(path).signatures
  for name, (inputs, what, count) in calls.items():
    hint = "Lower `temperature`, or" if name == "sample" else "Check"
    with pytest.raises(tf.errors.InvalidArgumentError, match=(
        rf"Signature `{name}` computed non-finite {what} \(NaN or inf\); "
        rf"no output is returned. {hint} .*not finite:\] \[{count}\] "
        rf"\[of\] \[{count}\]")):
      loaded[name](**inputs)
  for name, output in (("sample", "pixels"), ("score", "is_outlier")):
    inputs, what, _ = calls[name]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"Signature `{name}` computed non-finite {what}"):
      session.run(name, {k: np.asarray(v) for k, v in inputs.items()},
                  output_filter=[output])


def test_invalid_requests_fail_with_the_argument_and_value(loaded, pixels):
  for signature, inputs, message in _bad(pixels):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      loaded[signature](**inputs)


def test_a_wrong_image_shape_or_dtype_is_refused(loaded, pixels):
  _, dequantized = pixels
  # The signature wrapper may let a wrong shape through to the graph, whose
  # own check then names it.
  with pytest.raises((TypeError, tf.errors.InvalidArgumentError),
                     match=r"`images` must be a batch of shape \[n, 8, 8, 1\]"
                     r".*; got shape\] \[4 4 8 1\]|Can not cast"):
    loaded["log_prob"](images=tf.constant(dequantized[:, :4]))
  dtype_error = (TypeError, tf.errors.InvalidArgumentError)
  with pytest.raises(dtype_error, match="expected to be a float tensor but "
                     "is a double tensor|Can not cast"):
    loaded["log_prob"](images=tf.constant(dequantized, tf.float64))
  with pytest.raises(dtype_error, match="expected to be a uint8 tensor but "
                     "is a float tensor|Can not cast"):
    loaded["serving_default"](images=tf.constant(dequantized))


def _batch_message(name, shape, what="image"):
  return (rf"`{name}` must be a batch of shape \[n, 8, 8, 1\] holding at "
          rf"least one {what} \(n >= 1\); got shape\] \[{shape}\]")


def _scalar_message(name, values, shape, holding):
  return (rf"`{name}` must be a scalar {values}; got shape\] \[{shape}\] "
          rf"\[holding\] \[{holding}\]")


def _bad_shapes():
  """`(id, signature, inputs, message)` of requests of a bad shape.

  The inputs are NumPy arrays, as a server parses them from a request.
  """
  x = np.random.default_rng(5).uniform(0, 256, (4, 8, 8, 1)).astype(
      np.float32)
  pixels = x.astype(np.uint8)
  sample = dict(num_samples=np.int32(2), temperature=np.float32(1.0),
                seed=np.array([1, 2], np.int64))
  pair = dict(images_a=x[:2], images_b=x[2:], num_steps=np.int32(3))
  counts = r"in \[1, 16\]"
  steps = r"in \[2, 8\]"
  return [
      ("unbatched", "serving_default", {"images": pixels[0]},
       _batch_message("images", "8 8 1")),
      ("empty", "serving_default", {"images": pixels[:0]},
       _batch_message("images", "0 8 8 1")),
      ("rank-5", "serving_default", {"images": pixels[None]},
       _batch_message("images", "1 4 8 8 1")),
      ("unbatched", "log_prob", {"images": x[0]},
       _batch_message("images", "8 8 1")),
      ("unbatched", "score", {"images": pixels[0]},
       _batch_message("images", "8 8 1")),
      ("empty", "score", {"images": pixels[:0]},
       _batch_message("images", "0 8 8 1")),
      ("wrong-width", "score", {"images": pixels[:, :, :4]},
       _batch_message("images", "4 8 4 1")),
      ("empty", "log_prob", {"images": x[:0]},
       _batch_message("images", "0 8 8 1")),
      ("wrong-height", "log_prob", {"images": x[:, :4]},
       _batch_message("images", "4 4 8 1")),
      ("unbatched", "encode", {"images": x[0]},
       _batch_message("images", "8 8 1")),
      ("empty", "encode", {"images": x[:0]},
       _batch_message("images", "0 8 8 1")),
      ("unbatched", "decode", {"z": x[0] / 100},
       _batch_message("z", "8 8 1", "latent")),
      ("empty", "decode", {"z": x[:0]},
       _batch_message("z", "0 8 8 1", "latent")),
      ("num_samples-[2]", "sample",
       {**sample, "num_samples": np.array([2, 3], np.int32)},
       _scalar_message("num_samples", counts, "2", "2 3")),
      ("num_samples-[1]", "sample",
       {**sample, "num_samples": np.array([2], np.int32)},
       _scalar_message("num_samples", counts, "1", "2")),
      ("temperature-[1]", "sample",
       {**sample, "temperature": np.array([0.5], np.float32)},
       _scalar_message("temperature", "that is finite and > 0", "1", "0.5")),
      ("seed-[3]", "sample",
       {**sample, "seed": np.array([1, 2, 3], np.int64)},
       r"`seed` must be two int64 values \(shape \[2\]\); got shape\] \[3\] "
       r"\[holding\] \[1 2 3\]"),
      ("seed-scalar", "sample", {**sample, "seed": np.int64(7)},
       r"`seed` must be two int64 values \(shape \[2\]\); got shape\] \[\] "
       r"\[holding\] \[7\]"),
      ("num_steps-[2]", "interpolate",
       {**pair, "num_steps": np.array([3, 4], np.int32)},
       _scalar_message("num_steps", steps, "2", "3 4")),
      ("num_steps-[1]", "interpolate",
       {**pair, "num_steps": np.array([3], np.int32)},
       _scalar_message("num_steps", steps, "1", "3")),
      ("unbatched-a", "interpolate", {**pair, "images_a": x[0]},
       _batch_message("images_a", "8 8 1")),
      ("empty-b", "interpolate", {**pair, "images_b": x[:0]},
       _batch_message("images_b", "0 8 8 1")),
      # Several problems: the first input's is reported, before anything.
      ("unbatched-a-and-num_steps-[2]", "interpolate",
       {**pair, "images_a": x[0], "images_b": x[0],
        "num_steps": np.array([3, 4], np.int32)},
       _batch_message("images_a", "8 8 1")),
      # Every input's shape before any input's values.
      ("num_samples-0-and-temperature-[1]", "sample",
       {**sample, "num_samples": np.int32(0),
        "temperature": np.array([0.5], np.float32)},
       _scalar_message("temperature", "that is finite and > 0", "1", "0.5")),
  ]


@pytest.mark.parametrize("path", ["in_process", "session"])
@pytest.mark.parametrize(
    "signature, inputs, message",
    [case[1:] for case in _bad_shapes()],
    ids=[f"{case[1]}-{case[0]}" for case in _bad_shapes()])
def test_a_bad_shape_fails_first_naming_the_input_and_shape(
    loaded, session_model, path, signature, inputs, message):
  """The graph's own checks, whatever shape reaches it: `tf.saved_model.load`
  passes a wrongly shaped tensor to the graph, and so does TF Serving's C++
  session (as `session_model` does), unlike Python's `Session.run`."""
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    if path == "in_process":
      loaded[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    else:
      session_model.run(signature, inputs)


def test_the_in_process_functions_refuse_bad_shapes_naming_the_input(
    run, pixels):
  module = serving.build_serving_module(run.flow, max_samples=16)
  signatures = module.serving_signatures
  _, dequantized = pixels
  # The input signature refuses a wrong rank, naming the input...
  with pytest.raises(TypeError, match=r"Can not cast TensorSpec\(shape=\(8, "
                     r"8, 1\).*name='images'\) to TensorSpec\(shape=\(None, "
                     r"8, 8, 1\)"):
    signatures["log_prob"](tf.constant(dequantized[0]))
  with pytest.raises(TypeError, match=r"Can not cast TensorSpec\(shape=\(1,"
                     r"\).*name='num_samples'\) to TensorSpec\(shape=\(\)"):
    signatures["sample"](tf.constant([2]), tf.constant(1.0),
                         tf.constant([1, 2], tf.int64))
  # ... and the graph an empty batch.
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=_batch_message("images", "0 8 8 1")):
    signatures["log_prob"](tf.constant(dequantized[:0]))


def test_saved_model_cli_reports_bad_shapes_naming_the_input(run, tmp_path):
  """The session loader of TF Serving, through `saved_model_cli run`.

  Its Python `Session.run` refuses a shape the signature declares otherwise
  (a wrong rank, a non-scalar count) itself, naming the input's tensor; a
  shape that fits the declaration (an empty batch) reaches the graph's
  checks. The CLI runs one request per process (~7 s each): two, at once;
  `session_model` runs the whole table through the same loader.
  """
  requests = {
      "decode": ({"z": np.zeros((0, 8, 8, 1), np.float32)},
                 _batch_message("z", "0 8 8 1", "latent")),
      "sample": ({"num_samples": np.array([2, 3], np.int32),
                  "temperature": np.float32(1.0),
                  "seed": np.array([1, 2], np.int64)},
                 r"Cannot feed value of shape \(2,\) for Tensor "
                 r"sample_num_samples:0, which has shape \(\)"),
  }
  procs = start_saved_model_cli(
      run.export_dir, {s: inputs for s, (inputs, _) in requests.items()},
      tmp_path)
  for signature, proc in procs.items():
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode != 0, signature
    assert re.search(requests[signature][1], stderr), stderr[-3000:]
    assert not (tmp_path / signature).exists()


def test_export_refuses_a_bad_version_folder_or_an_existing_one(run, tmp_path):
  with pytest.raises(ValueError, match="numeric version folder.*latest'"):
    serving.export_saved_model(run.flow, str(tmp_path / "m" / "latest"))
  with pytest.raises(FileExistsError, match="pick a new version number"):
    serving.export_saved_model(run.flow, run.export_dir)
  with pytest.raises(ValueError, match="inference mode"):
    serving.build_serving_module(run.flow.copy(training=True))
  with pytest.raises(ValueError, match="`max_samples` must be an int >= 1; "
                     "got 0"):
    serving.build_serving_module(run.flow, max_samples=0)


def test_a_glow_exports_with_the_same_signatures(tmp_path):
  flow = tfnvp.Glow((8, 8, 1), num_levels=2, depth=2, hidden_channels=8,
                    seed=0)
  kit.randomize_weights(flow.layers, 0, stddev=0.05)
  path = serving.export_saved_model(flow, str(tmp_path / "glow" / "1"),
                                    max_samples=4)
  loaded = tf.saved_model.load(path).signatures
  x = tf.random.stateless_uniform([3, 8, 8, 1], [0, 1], 0.0, 256.0)
  np.testing.assert_allclose(loaded["log_prob"](images=x)["log_prob"],
                             flow.log_prob(x), rtol=1e-5)
  z = loaded["encode"](images=x)["z"]
  np.testing.assert_allclose(loaded["decode"](z=z)["images"], x, atol=2e-3)
  out = loaded["sample"](num_samples=tf.constant(2),
                         temperature=tf.constant(0.5), seed=_seed(3, 4))
  np.testing.assert_allclose(
      out["images"], tfnvp.sample_at_temperature(flow, 2, 0.5, seed=[3, 4]),
      rtol=1e-4, atol=1e-3)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`images` must be finite and in \[0, 256\)"):
    loaded["log_prob"](images=x + 256.0)


def test_score_runs_in_saved_model_cli_and_a_fresh_process(run, pixels,
                                                           tmp_path):
  """The calibrated export's `score`, through TF Serving's session loader
  (`saved_model_cli run`, and in a fresh process) and
  `tf.saved_model.load` without tfnvp: equal to the calibration's scores in
  process."""
  images, _ = pixels
  want = run.calibration.scores(run.flow, images)
  requests = {"score": {"images": images}}
  procs = start_saved_model_cli(run.export_dir, requests, tmp_path)
  fresh = run_in_fresh_process(run.export_dir, requests, tmp_path)
  _, stderr = procs["score"].communicate(timeout=TIMEOUT)
  assert procs["score"].returncode == 0, stderr[-3000:]
  outputs = [{name: np.load(tmp_path / "score" / f"{name}.npy")
              for name in SIGNATURES["score"].outputs}]
  outputs += [fresh[loader]["score"] for loader in LOADERS]
  for got in outputs:
    for name, value in got.items():
      assert value.dtype == SIGNATURES["score"].outputs[name], name
    assert_scores_match(got, want, run.calibration)
  # The calibration's JSON beside the SavedModel is the one in the graph.
  assert tfnvp.OutlierCalibration.load(os.path.join(
      run.export_dir, serving.CALIBRATION_FILE)) == run.calibration
