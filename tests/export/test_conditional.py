"""A class-conditional flow's export: the library's conditional API served.

One conditional run (3 classes, label dropout, labels in the couplings),
exported once by `tfnvp-export`; its signatures are run through the loaders
TF ships and the REST and gRPC clients, and compared with the in-process
`flow.given(labels)`, `flow.marginal_log_prob` and `flow.classify`.
"""

import dataclasses
import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

import tfnvp
from tfnvp.export import contract
from tfnvp.export import serving
from tfnvp.export.client import PredictError
from tfnvp.export.client import RestClient
from tfnvp.export.contract import CONDITIONAL_SIGNATURES
from tfnvp.export.contract import SIGNATURES
from tfnvp.export.grpc_client import GrpcClient
from tests import kit
from tests.export import serving_doubles
from tests.export.conftest import CONDITIONAL_MODEL
from tests.export.expected import LOADERS
from tests.export.expected import TIMEOUT
from tests.export.expected import assert_outputs_match
from tests.export.expected import assert_scores_match
from tests.export.expected import conditional_requests_for
from tests.export.expected import expected_outputs
from tests.export.expected import run_in_fresh_process
from tests.export.expected import start_saved_model_cli

MODEL_NAME = "digits"
LABELS = np.array([0, 2, 1, 2], np.int32)
# Four 8-bit images and their dequantized values, for the tables of cases.
PIXELS = (np.random.default_rng(3).integers(0, 256, (4, 8, 8, 1), np.uint8),
          np.random.default_rng(4).uniform(0, 256, (4, 8, 8, 1)).astype(
              np.float32))


@pytest.fixture(scope="module")
def loaded(conditional_run):
  return tf.saved_model.load(conditional_run.export_dir).signatures


@pytest.fixture(scope="module")
def session_model(conditional_run):
  return serving_doubles.SessionModel.shared(conditional_run.base_path,
                                             MODEL_NAME)


def test_the_unconditional_contract_is_unchanged():
  """The unconditional table, as it was before conditional exports: every
  name, dtype and shape, in order."""
  images = ("n", "H", "W", "C")
  scores = ("bits_per_dim", "complexity_bits_per_dim", "ood_score",
            "typicality")
  assert {name: (s.inputs, s.input_shapes, s.outputs, s.output_shapes)
          for name, s in SIGNATURES.items()} == {
      "serving_default": ({"images": "uint8"}, {"images": images},
                          {"log_prob": "float32", "bits_per_dim": "float32"},
                          {"log_prob": ("n",), "bits_per_dim": ("n",)}),
      "log_prob": ({"images": "float32"}, {"images": images},
                   {"log_prob": "float32"}, {"log_prob": ("n",)}),
      "sample": ({"num_samples": "int32", "temperature": "float32",
                  "seed": "int64"},
                 {"num_samples": (), "temperature": (), "seed": (2,)},
                 {"images": "float32", "pixels": "uint8"},
                 {"images": ("num_samples", "H", "W", "C"),
                  "pixels": ("num_samples", "H", "W", "C")}),
      "encode": ({"images": "float32"}, {"images": images},
                 {"z": "float32"}, {"z": images}),
      "decode": ({"z": "float32"}, {"z": images}, {"images": "float32"},
                 {"images": images}),
      "interpolate": ({"images_a": "float32", "images_b": "float32",
                       "num_steps": "int32"},
                      {"images_a": images, "images_b": images,
                       "num_steps": ()},
                      {"images": "float32"},
                      {"images": ("n", "num_steps", "H", "W", "C")}),
      "score": ({"images": "uint8"}, {"images": images},
                {**{k: "float32" for k in scores}, "is_outlier": "bool"},
                {k: ("n",) for k in (*scores, "is_outlier")}),
  }
  for name in SIGNATURES:
    assert list(SIGNATURES[name].inputs) == list(
        SIGNATURES[name].input_shapes)
  # The conditional signatures are those plus labels (sample: instead of
  # num_samples) and the marginal.
  for name, signature in SIGNATURES.items():
    conditional = CONDITIONAL_SIGNATURES[name]
    added = set(conditional.inputs) - set(signature.inputs)
    assert added == ({"labels", "guidance"} if name == "sample" else
                     set() if name == "score" else {"labels"}), name
    assert set(signature.inputs) - set(conditional.inputs) == (
        {"num_samples"} if name == "sample" else set()), name
    assert signature.outputs.items() <= conditional.outputs.items(), name
  assert list(CONDITIONAL_SIGNATURES) == [*list(SIGNATURES)[:-1], "classify",
                                          "score"]


def test_each_label_is_a_different_flow(conditional_run, pixels):
  """The run's random per-class weights are not the identity: two labels
  give different densities and latents."""
  flow = conditional_run.flow
  _, x = pixels
  first, second = flow.given([0] * 4), flow.given([1] * 4)
  assert np.abs(first.log_prob(x) - second.log_prob(x)).min() > 0.05
  assert np.abs(first.flow.forward(x) - second.flow.forward(x)).max() > 0.05


def test_tfnvp_export_writes_the_conditional_signatures(conditional_run,
                                                        session_model):
  """As TF Serving reads them (the SavedModel's `signature_def`s): the
  conditional table's names, dtypes and shapes, the image shape bound."""
  assert ("signatures: serving_default, log_prob, sample, encode, decode, "
          "interpolate, classify\n") in conditional_run.stdout
  table = {name: definition for name, definition in
           session_model.signatures.items()
           if name != "__saved_model_init_op"}
  assert sorted(table) == sorted(set(CONDITIONAL_SIGNATURES) - {"score"})
  sizes = contract.image_sizes(conditional_run.flow.image_shape)
  for name, definition in table.items():
    signature = CONDITIONAL_SIGNATURES[name]
    for tensors, dtypes in ((definition.inputs, signature.inputs),
                            (definition.outputs, signature.outputs)):
      assert {k: tf.as_dtype(v.dtype).name for k, v in tensors.items()} == (
          dtypes), name
    for k, info in definition.inputs.items():
      declared = [d.size for d in info.tensor_shape.dim]
      assert declared == [d if isinstance(d, int) else -1 for d in
                          contract.bind(signature.input_shapes[k], sizes)], (
                              name, k)


def test_the_loaders_tf_ships_run_every_signature_as_the_library(
    conditional_run, pixels, tmp_path):
  """A fresh process without tfnvp, Keras or TFP runs every request
  through `tf.saved_model.load`, and `classify` through TF Serving's
  session loader; `saved_model_cli run` (that loader's tool) runs a guided
  `sample`. Each equals the library:
  `given(labels).log_prob` and `marginal_log_prob`, `given(labels,
  guidance)` samples with the same seed (guidance 0 and 1), `classify`, and
  `given(labels).flow`. (The clients' tests run every signature through the
  session loader, in process.)"""
  export_dir = conditional_run.export_dir
  requests = conditional_requests_for(pixels, LABELS)
  proc = start_saved_model_cli(
      export_dir, {"sample": requests["sample@guided"]}, tmp_path)["sample"]
  outputs = run_in_fresh_process(export_dir, requests, tmp_path,
                                 session_requests=["classify"])
  expected = expected_outputs(conditional_run.flow, requests)
  _, stderr = proc.communicate(timeout=TIMEOUT)
  assert proc.returncode == 0, stderr[-3000:]
  want = expected["sample@guided"]
  assert_outputs_match({name: np.load(tmp_path / "sample" / f"{name}.npy")
                        for name in want}, want)
  assert sorted(outputs["session"]) == ["classify"]
  for loader in LOADERS:
    for request in outputs[loader]:
      want = expected[request]
      signature = CONDITIONAL_SIGNATURES[request.split("@")[0]]
      got = outputs[loader][request]
      assert sorted(got) == sorted(signature.outputs), (loader, request)
      for name, dtype in signature.outputs.items():
        assert got[name].dtype == dtype, (loader, request, name)
      assert_outputs_match(got, want)
  assert sorted(outputs["object"]) == sorted(expected)
  served = outputs["object"]
  # Guidance changes the samples; the labels, the densities.
  assert np.abs(served["sample"]["images"] -
                served["sample@guided"]["images"]).max() > 1.0
  assert not np.allclose(served["log_prob"]["log_prob"],
                         served["log_prob"]["marginal_log_prob"], atol=0.05)


def test_score_is_the_calibrated_marginal_density(conditional_run, loaded,
                                                  pixels):
  """`OutlierCalibration.estimate` of a conditional flow scores its
  marginal; the `score` endpoint equals it and `serving_default`'s
  `marginal_bits_per_dim` (a calibration at the pixel centres)."""
  flow = conditional_run.flow
  images, _ = pixels
  calibration = tfnvp.OutlierCalibration.estimate(
      flow, np.random.default_rng(5).integers(
          0, 256, size=(40, 8, 8, 1), dtype=np.uint8),
      false_positive_rate=0.1, num_samples=0, source="40 random images")
  signatures = serving.build_serving_module(
      flow, calibration=calibration, max_samples=4).serving_signatures
  score = {k: v.numpy() for k, v in
           signatures["score"](images=images).items()}
  assert_scores_match(score, calibration.scores(flow, images), calibration)
  centres = images.astype(np.float32) + 0.5
  marginal = -flow.marginal_log_prob(centres) / (64 * math.log(2.0))
  np.testing.assert_allclose(score["bits_per_dim"], marginal, rtol=1e-5)
  served = loaded["serving_default"](images=images, labels=LABELS)
  np.testing.assert_allclose(score["bits_per_dim"],
                             served["marginal_bits_per_dim"], rtol=1e-5)


def _bad_requests(pixels):
  """`(id, signature, inputs, message)` of refused requests."""
  images, x = pixels
  sample = dict(labels=np.array([0, 1], np.int32), guidance=np.float32(0.5),
                temperature=np.float32(1.0), seed=np.array([1, 2], np.int64))
  labels = r"`labels` must be class labels in \[0, 3\)"
  null = r" \(the null label 3 is not a class\); got\] "
  return [
      ("out-of-range", "log_prob",
       {"images": x, "labels": np.array([0, -1, 5, 2], np.int32)},
       rf"{labels}{null}\[-1 5\] \[in\] \[0 -1 5 2\]"),
      ("the-null-label", "serving_default",
       {"images": images, "labels": np.array([0, 3, 1, 2], np.int32)},
       rf"{labels}{null}\[3\] \[in\] \[0 3 1 2\]"),
      ("null-label-sample", "sample", {**sample, "labels": np.int32([3, 0])},
       rf"{labels}{null}\[3\] \[in\] \[3 0\]"),
      ("3-labels-for-4-images", "serving_default",
       {"images": images, "labels": LABELS[:3]},
       r"`labels` must hold one label per image of `images`; got\] \[3\] "
       r"\[labels for\] \[4\] \[images\]"),
      ("5-labels-for-4-latents", "decode",
       {"z": x / 256, "labels": np.int32([0, 1, 2, 0, 1])},
       r"`labels` must hold one label per latent of `z`; got\] \[5\] "
       r"\[labels for\] \[4\] \[latents\]"),
      ("a-label-per-image-not-per-pair", "interpolate",
       {"images_a": x[:2], "images_b": x[2:], "num_steps": np.int32(3),
        "labels": LABELS},
       r"one label per image of `images_a`; got\] \[4\] \[labels for\] \[2\]"),
      ("labels-[1, 4]", "encode", {"images": x, "labels": LABELS[None]},
       r"`labels` must be a batch of shape \[n\] holding at least one label "
       r"\(n >= 1\); got shape\] \[1 4\]"),
      ("no-labels-to-sample", "sample", {**sample, "labels": np.int32([])},
       r"`labels` must be a batch of shape \[num_samples\] holding at least "
       r"one label \(num_samples >= 1\); got shape\] \[0\]"),
      ("17-labels-to-sample", "sample",
       {**sample, "labels": np.zeros(17, np.int32)},
       r"`labels` must hold at most 16 labels, one per sample \(`max_samples` "
       r"of the export\); got\] \[17\]"),
      ("negative-guidance", "sample", {**sample, "guidance": np.float32(-1)},
       r"`guidance` must be a finite scalar >= 0; got\] \[-1\]"),
      ("nan-guidance", "sample", {**sample, "guidance": np.float32(np.nan)},
       r"`guidance` must be a finite scalar >= 0; got\] \[nan\]"),
      ("guidance-[2]", "sample",
       {**sample, "guidance": np.float32([0.5, 1.0])},
       r"`guidance` must be a scalar that is finite and >= 0; got shape\] "
       r"\[2\] \[holding\] \[0.5 1\]"),
  ]


@pytest.mark.parametrize("path", ["in_process", "session"])
@pytest.mark.parametrize(
    "signature, inputs, message",
    [case[1:] for case in _bad_requests(PIXELS)],
    ids=[f"{case[1]}-{case[0]}" for case in _bad_requests(PIXELS)])
def test_bad_labels_and_guidance_are_refused_naming_them(
    loaded, session_model, path, signature, inputs, message):
  """Through `tf.saved_model.load` and TF Serving's session loader (which
  feeds any shape), before the model runs."""
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    if path == "in_process":
      loaded[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    else:
      session_model.run(signature, inputs)


def test_float_labels_are_refused(loaded, pixels):
  _, x = pixels
  with pytest.raises((TypeError, tf.errors.InvalidArgumentError),
                     match="expected to be a int32 tensor but is a float "
                     "tensor|Can not cast"):
    loaded["log_prob"](images=tf.constant(x),
                       labels=tf.constant([0.0, 1.0, 2.0, 0.0]))


def test_a_flow_without_label_dropout_refuses_guidance():
  """It has no null label to guide by: `guidance` must be 0, which samples
  the conditional flow; and labels name the classes only."""
  flow = dataclasses.replace(CONDITIONAL_MODEL, label_dropout=0.0).make_flow()
  flow.log_prob(tf.zeros([1, 8, 8, 1]))          # creates the variables
  kit.randomize_weights(flow.layers, 1, stddev=0.05)
  sample = serving.build_serving_module(
      flow, max_samples=4).serving_signatures["sample"]
  inputs = dict(labels=tf.constant([2, 0]), temperature=tf.constant(0.8),
                seed=tf.constant([3, 4], tf.int64))
  with pytest.raises(tf.errors.InvalidArgumentError, match=(
      r"`guidance` must be 0: the model was trained without label dropout "
      r"\(label_dropout=0\), so it has no unconditional density to guide "
      r"by; got\] \[0.5\]")):
    sample(guidance=tf.constant(0.5), **inputs)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`labels` must be class labels in \[0, 3\); "
                     r"got\] \[3\]"):
    sample(guidance=tf.constant(0.0), **{**inputs,
                                         "labels": tf.constant([3, 0])})
  np.testing.assert_allclose(
      sample(guidance=tf.constant(0.0), **inputs)["images"],
      tfnvp.sample_at_temperature(flow.given([2, 0]), (), 0.8, seed=[3, 4]),
      rtol=1e-4, atol=2e-3)


def test_a_non_finite_marginal_or_posterior_is_an_error():
  """A NaN in one class's prior makes that class's densities NaN, hence
  the marginal and the classifier's, while the other labels' densities are
  finite: the signatures refuse to answer, naming the output."""
  flow = CONDITIONAL_MODEL.make_flow()
  flow.log_prob(tf.zeros([1, 8, 8, 1]))          # creates the variables
  loc = next(v for v in flow.variables
             if v.path.endswith("class_prior_0/loc"))
  loc.assign(tf.tensor_scatter_nd_update(loc, [[2]], [[np.nan]]))
  images = np.zeros((2, 8, 8, 1), np.uint8)
  assert np.isfinite(flow.given([0, 1]).log_prob(images + 0.5)).all()
  signatures = serving.build_serving_module(flow).serving_signatures
  with pytest.raises(tf.errors.InvalidArgumentError, match=(
      r"Signature `serving_default` computed non-finite output "
      r"`marginal_log_prob` \(NaN or inf\); no output is returned")):
    signatures["serving_default"](images=images, labels=tf.constant([0, 1]))
  with pytest.raises(tf.errors.InvalidArgumentError, match=(
      r"Signature `classify` computed non-finite output `log_probs` \(NaN or "
      r"inf\); no output is returned.*not finite:\] \[6\] \[of\] \[6\]")):
    signatures["classify"](images=images)


def test_a_flow_given_labels_is_not_exported(conditional_run):
  with pytest.raises(ValueError, match=r"must be the class-conditional flow "
                     r"itself \(`flow.conditional_flow`\)"):
    serving.build_serving_module(conditional_run.flow.given([0, 1]))


@pytest.fixture(scope="module")
def servers(session_model):
  rest = serving_doubles.FakeRestServer(session_model)
  grpc_server = serving_doubles.FakeGrpcServer(session_model)
  yield {"rest": rest, "grpc": grpc_server}
  rest.stop()
  grpc_server.stop()


@pytest.fixture(params=["rest", "grpc"])
def double(request, servers):
  """`(client, server)` of each transport, the server's log emptied."""
  server = servers[request.param]
  del server.requests[:]
  if request.param == "rest":
    yield RestClient(MODEL_NAME, "127.0.0.1", server.port, timeout=30), server
    server.reply = None
  else:
    with GrpcClient(MODEL_NAME, server.target, timeout=30) as client:
      yield client, server
    server.respond = None


def test_both_clients_call_the_conditional_signatures(
    double, conditional_run, pixels):
  client, server = double
  r = conditional_requests_for(pixels, LABELS)
  guided = r["sample@guided"]
  log_probs, label = client.classify(**r["classify"])
  outputs = {
      "serving_default": client.bits_per_dim(**r["serving_default"]),
      "log_prob": client.predict("log_prob", r["log_prob"]),
      "sample@guided": client.sample(
          labels=guided["labels"], guidance=guided["guidance"],
          temperature=guided["temperature"], seed=guided["seed"]),
      "encode": {"z": client.encode(**r["encode"])},
      "decode": {"images": client.decode(**r["decode"])},
      "interpolate": {"images": client.interpolate(**r["interpolate"])},
      "classify": {"log_probs": log_probs, "label": label},
  }
  expected = expected_outputs(conditional_run.flow,
                              {k: r[k] for k in outputs})
  for request, want in expected.items():
    assert_outputs_match(outputs[request], want)
  np.testing.assert_allclose(client.log_prob(**r["log_prob"]),
                             expected["log_prob"]["log_prob"], rtol=1e-5)
  assert label.dtype == np.int32 and log_probs.shape == (4, 3)
  # Guidance 0 by default: the conditional sample.
  unguided = client.sample(labels=guided["labels"],
                           temperature=guided["temperature"],
                           seed=guided["seed"])
  assert_outputs_match(unguided, expected_outputs(
      conditional_run.flow, {"sample": r["sample"]})["sample"])
  if isinstance(server, serving_doubles.FakeRestServer):
    sent = server.requests[-1]
    assert sent["signature_name"] == "sample"
    assert sent["inputs"]["labels"] == guided["labels"].tolist()
    assert sent["inputs"]["guidance"] == 0.0


def test_the_rest_client_sends_rows_where_the_format_allows(servers,
                                                            pixels):
  """`request_format="row"`: `classify` (one input) in rows; a request
  with `labels` has several inputs, hence is columnar."""
  server = servers["rest"]
  del server.requests[:]
  client = RestClient(MODEL_NAME, "127.0.0.1", server.port, timeout=30,
                      request_format="row")
  images, x = pixels
  log_probs, label = client.classify(images)
  np.testing.assert_array_equal(label, np.argmax(log_probs, axis=-1))
  client.log_prob(x, labels=LABELS)
  assert [sorted(body) for body in server.requests] == [
      ["instances", "signature_name"], ["inputs", "signature_name"]]


_X = np.zeros((2, 8, 8, 1), np.float32)

# (id, call, error, message): calls both clients refuse before sending.
BAD_CALLS = [
    ("labels-and-num_samples", lambda c: c.sample(2, labels=[0, 1]),
     ValueError, r"`labels` replace `num_samples` \(one sample per label\)"),
    ("guidance-without-labels", lambda c: c.sample(2, guidance=1.0),
     ValueError, r"`guidance` needs `labels`"),
    ("neither-labels-nor-num_samples", lambda c: c.sample(), ValueError,
     r"`sample` needs `num_samples`, or `labels`"),
    ("1-label-for-2-images", lambda c: c.log_prob(_X, labels=[0]),
     ValueError, r"`labels` must have shape \[n\] with n = 2 \(from "
     r"`images`\); got shape \[1\]"),
    ("labels-[1, 2]", lambda c: c.sample(labels=[[0, 1]]), ValueError,
     r"`labels` must have shape \[num_samples\] \(rank 1\); got shape "
     r"\[1, 2\]"),
    ("no-labels", lambda c: c.sample(labels=[]), ValueError,
     r"`labels` must have shape \[num_samples\] with num_samples >= 1"),
    ("fractional-labels", lambda c: c.encode(_X, labels=[0.5, 1]),
     ValueError, r"`labels` must hold integers \(int32\)"),
    ("boolean-labels", lambda c: c.decode(_X, labels=[True, False]),
     TypeError, r"`labels` must hold numbers \(int32\); got booleans"),
    ("guidance-[1]", lambda c: c.sample(labels=[0], guidance=[1.0]),
     ValueError, r"`guidance` must be a scalar; got shape \[1\]"),
    ("an-unconditional-input-beside-labels",
     lambda c: c.predict("sample", {"num_samples": 2, "labels": [0, 1],
                                    "temperature": 1.0, "seed": [0, 0]}),
     ValueError, r"Signature 'sample' of a class-conditional model takes "
     r"inputs \['guidance', 'labels', 'seed', 'temperature'\]"),
]


@pytest.mark.parametrize("call, error, message",
                         [case[1:] for case in BAD_CALLS],
                         ids=[case[0] for case in BAD_CALLS])
def test_both_clients_refuse_bad_labels_before_sending(double, call, error,
                                                       message):
  client, server = double
  with pytest.raises(error, match=message):
    call(client)
  assert not server.requests


def _source(client):
  return re.escape(getattr(client, "url", None) or client.target)


def test_both_clients_pass_on_the_servers_refusals(double):
  """What only the model knows: its classes, its label dropout, and that
  it takes labels."""
  client, server = double
  with pytest.raises(PredictError, match=(
      rf"(?s){_source(client)}: .*`labels` must be class labels in \[0, 3\) "
      r"\(the null label 3 is not a class\); got\] \[3\] \[in\] \[0 3\]")):
    client.sample(labels=[0, 3])
  with pytest.raises(PredictError, match=(
      rf"(?s){_source(client)}: .*`guidance` must be a finite scalar >= 0; "
      r"got\] \[-2\]")):
    client.sample(labels=[0], guidance=-2.0)
  with pytest.raises(PredictError,
                     match=rf"(?s){_source(client)}: .*'labels'"):
    client.log_prob(_X)       # no labels for a conditional model
  assert len(server.requests) == 3


def test_an_unconditional_model_refuses_labels_and_classify(run):
  server = serving_doubles.FakeGrpcServer(
      serving_doubles.SessionModel.shared(run.base_path, "flow"))
  try:
    with GrpcClient("flow", server.target, timeout=30) as client:
      with pytest.raises(PredictError,
                         match=r"(?s)INVALID_ARGUMENT .*'labels'"):
        client.sample(labels=[0, 1])
      with pytest.raises(PredictError, match=r"\"classify\" not found"):
        client.classify(np.zeros((1, 8, 8, 1), np.uint8))
  finally:
    server.stop()


def _bad_classify_outputs():
  """`(id, outputs, message)`: answers to `classify` of 4 images that do
  not fit the request or the contract."""
  log_probs = np.full((4, 3), -1.1, np.float32)
  label = np.zeros(4, np.int32)
  nan = log_probs.copy()
  nan[1, 2] = np.nan
  return [
      ("3-labels-for-4-images", {"log_probs": log_probs, "label": label[:3]},
       r"output `label` must have shape \[n\] with n = 4 \(from `images`\); "
       r"got shape \[3\]"),
      ("log_probs-per-image", {"log_probs": log_probs[:, 0], "label": label},
       r"output `log_probs` must have shape \[n, K\] \(rank 2\); got shape "
       r"\[4\]"),
      ("a-nan-log_prob", {"log_probs": nan, "label": label},
       r"output `log_probs` holds 1 NaN or inf of 12 values"),
      ("float-labels", {"log_probs": log_probs,
                        "label": np.full(4, 0.5, np.float32)},
       r"output `label` (holds non-integers, not int32 values|has dtype "
       r"float32; the signature returns int32)"),
      ("no-label", {"log_probs": log_probs},
       r"it lacks outputs `label`; got \['log_probs'\]"),
  ]


@pytest.mark.parametrize("outputs, message",
                         [case[1:] for case in _bad_classify_outputs()],
                         ids=[case[0] for case in _bad_classify_outputs()])
def test_both_clients_refuse_classify_answers_that_do_not_fit(
    double, outputs, message):
  client, server = double
  if isinstance(server, serving_doubles.FakeRestServer):
    server.reply = serving_doubles.CannedReply(json.dumps(
        {"outputs": {k: v.tolist() for k, v in outputs.items()}}))
  else:
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    server.respond = lambda request, context: response
  with pytest.raises(PredictError, match=rf"Invalid response from "
                     rf"{_source(client)} for 'classify': .*{message}"):
    client.classify(np.zeros((4, 8, 8, 1), np.uint8))


def test_a_conditional_answer_without_the_marginal_is_refused(double):
  client, server = double
  if isinstance(server, serving_doubles.FakeRestServer):
    server.reply = serving_doubles.CannedReply('{"outputs": [-1.0, -2.0]}')
  else:
    response = predict_pb2.PredictResponse()
    response.outputs["log_prob"].CopyFrom(
        tf.make_tensor_proto(np.zeros(2, np.float32)))
    server.respond = lambda request, context: response
  with pytest.raises(PredictError, match=r"lacks outputs "
                     r"`marginal_log_prob`|'outputs' must be an object of "
                     r"the outputs `log_prob`, `marginal_log_prob`"):
    client.log_prob(_X, labels=[0, 1])
