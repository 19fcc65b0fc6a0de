"""export.client and export.grpc_client against TF Serving test doubles.

The doubles (`serving_doubles`) answer from the exported SavedModel through
TF's session-based loader, on 127.0.0.1; the REST bodies are also checked
against the JSON formats of TF Serving's REST API documentation.
"""

import json
import re
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tfnvp.export import client as client_lib
from tfnvp.export.client import PredictError
from tfnvp.export.client import RestClient
from tfnvp.export.grpc_client import GrpcClient
from tests.export import serving_doubles
from tests.export.serving_doubles import CannedReply
from tests.export.expected import assert_outputs_match
from tests.export.expected import expected_outputs
from tests.export.expected import requests_for

MODEL_NAME = "flow"


@pytest.fixture(scope="module")
def session_model(run):
  return serving_doubles.SessionModel.shared(run.base_path, MODEL_NAME)


@pytest.fixture(scope="module")
def grpc_server(session_model):
  server = serving_doubles.FakeGrpcServer(session_model)
  yield server
  server.stop()


@pytest.fixture(scope="module")
def rest_server(session_model):
  server = serving_doubles.FakeRestServer(session_model)
  yield server
  server.stop()


def _call_every_signature(client, requests):
  r = requests
  return {
      "serving_default": client.bits_per_dim(**r["serving_default"]),
      "log_prob": {"log_prob": client.log_prob(**r["log_prob"])},
      "sample": client.sample(**r["sample"]),
      "encode": {"z": client.encode(**r["encode"])},
      "decode": {"images": client.decode(**r["decode"])},
      "interpolate": {"images": client.interpolate(**r["interpolate"])},
      "score": client.score(**r["score"]),
  }


def _check_every_signature(client, run, pixels):
  requests = requests_for(pixels)
  outputs = _call_every_signature(client, requests)
  for signature, want in expected_outputs(run.flow, requests,
                                          run.calibration).items():
    assert_outputs_match(outputs[signature], want)
    for name, value in outputs[signature].items():
      assert value.dtype == client_lib.SIGNATURES[signature].outputs[name]


def test_grpc_client_calls_every_signature(grpc_server, run, pixels):
  with GrpcClient(MODEL_NAME, grpc_server.target, version=1) as client:
    _check_every_signature(client, run, pixels)


def test_grpc_errors_carry_the_servers_message(grpc_server, pixels):
  with GrpcClient(MODEL_NAME, grpc_server.target) as client:
    target = re.escape(grpc_server.target)
    with pytest.raises(PredictError, match=rf"(?s)INVALID_ARGUMENT from "
                       rf"{target}: .*`num_samples` must be a scalar in "
                       r"\[1, 16\]"):
      client.sample(0)
    with pytest.raises(PredictError, match=r"(?s)INVALID_ARGUMENT from .*"
                       r"`images` must be finite and in \[0, 256\)"):
      client.log_prob(pixels[1] + 256)
  with GrpcClient("other", grpc_server.target) as client:
    with pytest.raises(PredictError, match=rf"NOT_FOUND from {target}: "
                       r"Servable not found for request: Latest\(other\)"):
      client.log_prob(pixels[1])


@pytest.mark.parametrize("request_format", ["columnar", "row"])
def test_rest_client_calls_every_signature(rest_server, run, pixels,
                                           request_format):
  client = RestClient(MODEL_NAME, "127.0.0.1", rest_server.port,
                      request_format=request_format)
  del rest_server.requests[:]
  _check_every_signature(client, run, pixels)
  sent = {body["signature_name"]: body for body in rest_server.requests}
  assert sorted(sent) == sorted(client_lib.SIGNATURES)
  for signature, body in sent.items():
    single = len(client_lib.SIGNATURES[signature].inputs) == 1
    key = "instances" if request_format == "row" and single else "inputs"
    assert set(body) == {"signature_name", key}


def test_rest_errors_carry_the_servers_message(rest_server, pixels):
  client = RestClient(MODEL_NAME, "127.0.0.1", rest_server.port)
  with pytest.raises(PredictError, match=r"(?s)HTTP 400 .*`temperature` "
                     "must be a finite scalar > 0"):
    client.sample(2, temperature=-1.0)
  missing = RestClient("other", "127.0.0.1", rest_server.port, version=1)
  with pytest.raises(PredictError, match=r"HTTP 404 .*Servable not found for "
                     r"request: Specific\(other, 1\)"):
    missing.log_prob(pixels[1])


def test_rest_bodies_follow_tf_servings_documented_formats():
  images = np.arange(8, dtype=np.uint8).reshape(2, 2, 2, 1)
  # Row format, one named input: "instances" is the list of examples.
  assert client_lib.rest_request_body("serving_default", {"images": images},
                                      "row") == {
      "signature_name": "serving_default",
      "instances": [[[[0], [1]], [[2], [3]]], [[[4], [5]], [[6], [7]]]]}
  # Columnar format: "inputs" maps each input name to its whole tensor.
  assert client_lib.rest_request_body(
      "sample", {"num_samples": 4, "temperature": 0.5, "seed": [1, 2]}) == {
          "signature_name": "sample",
          "inputs": {"num_samples": 4, "temperature": 0.5, "seed": [1, 2]}}
  with pytest.raises(ValueError, match="row format is for signatures with "
                     "one batched input"):
    client_lib.rest_request_body(
        "sample", {"num_samples": 4, "temperature": 0.5, "seed": [1, 2]},
        "row")


def test_rest_responses_of_both_formats_are_parsed():
  # Several outputs: a list of objects (row) or an object of tensors.
  row = client_lib.parse_rest_response("serving_default", {"predictions": [
      {"log_prob": -1.5, "bits_per_dim": 2.0},
      {"log_prob": -2.5, "bits_per_dim": 3.0}]})
  columnar = client_lib.parse_rest_response("serving_default", {"outputs": {
      "log_prob": [-1.5, -2.5], "bits_per_dim": [2.0, 3.0]}})
  for out in (row, columnar):
    np.testing.assert_array_equal(out["log_prob"], [-1.5, -2.5])
    np.testing.assert_array_equal(out["bits_per_dim"], [2.0, 3.0])
    assert out["log_prob"].dtype == np.float32
  # One output: the server omits its name.
  for body in ({"predictions": [-1.0, -2.0]}, {"outputs": [-1.0, -2.0]}):
    np.testing.assert_array_equal(
        client_lib.parse_rest_response("log_prob", body)["log_prob"],
        [-1.0, -2.0])
  with pytest.raises(PredictError, match="Servable not found"):
    client_lib.parse_rest_response(
        "log_prob", {"error": "Servable not found for request: Latest(x)"})


@pytest.mark.parametrize("inputs, message", [
    ({"images": np.full((1, 8, 8, 1), 300)}, r"must be in \[0, 255\]"),
    ({"images": np.full((1, 8, 8, 1), 1.5)}, "must hold integers"),
    ({"pixels": np.zeros((1, 8, 8, 1))}, r"takes inputs \['images'\]"),
])
def test_the_client_refuses_inputs_that_would_not_survive_the_cast(
    inputs, message):
  with pytest.raises(ValueError, match=message):
    client_lib.rest_request_body("serving_default", inputs)


@pytest.fixture(params=["rest", "grpc"])
def double(request, rest_server, grpc_server):
  """`(client, server)` of each transport; the server's request log and
  canned answer are reset."""
  if request.param == "rest":
    server = rest_server
    client = RestClient(MODEL_NAME, "127.0.0.1", rest_server.port,
                        timeout=30)
  else:
    server = grpc_server
    client = GrpcClient(MODEL_NAME, grpc_server.target, timeout=30)
  del server.requests[:]
  _reset(server)
  yield client, server
  _reset(server)
  if request.param == "grpc":
    client.close()


def _reset(server):
  """The double answers from the model again."""
  if isinstance(server, serving_doubles.FakeRestServer):
    server.reply = None
  else:
    server.respond = None


def _source(client):
  """How `PredictError` names the server: its URL or gRPC target."""
  return re.escape(getattr(client, "url", None) or client.target)


_X = np.zeros((2, 8, 8, 1), np.float32)
_PIXELS = np.zeros((2, 8, 8, 1), np.uint8)
_INT32 = r"\[-2147483648, 2147483647\] \(int32\)"
_INT64 = r"\[-9223372036854775808, 9223372036854775807\] \(int64\)"

# (id, method, args, error, message): calls both clients must refuse
# before sending anything.
BAD_ARGUMENTS = [
    ("unbatched-images", "log_prob", (_X[0],), ValueError,
     r"`images` must have shape \[n, H, W, C\] \(rank 4\); got shape "
     r"\[8, 8, 1\]"),
    ("empty-batch", "log_prob", (_X[:0],), ValueError,
     r"`images` must have shape \[n, H, W, C\] with n >= 1; got shape "
     r"\[0, 8, 8, 1\]"),
    ("empty-pixels", "bits_per_dim", (_PIXELS[:0],), ValueError,
     r"`images` must have shape \[n, H, W, C\] with n >= 1"),
    ("unbatched-z", "decode", (_X[0],), ValueError,
     r"`z` must have shape \[n, H, W, C\] \(rank 4\); got shape \[8, 8, 1\]"),
    ("num_samples-[2]", "sample", ([2, 3],), ValueError,
     r"`num_samples` must be a scalar; got shape \[2\]"),
    ("num_samples-[1]", "sample", ([2],), ValueError,
     r"`num_samples` must be a scalar; got shape \[1\]"),
    ("temperature-[1]", "sample", (2, [0.5]), ValueError,
     r"`temperature` must be a scalar; got shape \[1\]"),
    ("seed-[3]", "sample", (2, 1.0, (1, 2, 3)), ValueError,
     r"`seed` must have shape \[2\]; got shape \[3\]"),
    ("num_steps-[2]", "interpolate", (_X, _X, [3, 4]), ValueError,
     r"`num_steps` must be a scalar; got shape \[2\]"),
    ("batches-of-two-sizes", "interpolate", (_X, _X[:1], 3), ValueError,
     r"`images_b` must have shape \[n, H, W, C\] with n = 2 \(from "
     r"`images_a`\); got shape \[1, 8, 8, 1\]"),
    ("seed-beyond-int64", "sample", (2, 1.0, (2**63, 0)), ValueError,
     rf"`seed` must be in {_INT64}; got values from 0 to "
     r"9223372036854775808"),
    ("seed-beyond-64-bits", "sample", (2, 1.0, (-2**70, 0)), ValueError,
     rf"`seed` must be in {_INT64}; got values from "
     r"-1180591620717411303424 to 0"),
    ("float-seed-at-2**63", "sample", (2, 1.0, np.array([2.0**63, 0.0])),
     ValueError, rf"`seed` must be in {_INT64}"),
    ("float-seed", "sample", (2, 1.0, (1.5, 2)), ValueError,
     r"`seed` must hold integers \(int64\); got dtype float64 with "
     r"non-integer values"),
    ("nan-seed", "sample", (2, 1.0, (np.nan, 2)), ValueError,
     r"`seed` must hold integers"),
    ("num_samples-beyond-int32", "sample", (2**31,), ValueError,
     rf"`num_samples` must be in {_INT32}; got values from 2147483648 to "
     r"2147483648"),
    ("float-num_samples-beyond-int32", "sample", (2.0**31,), ValueError,
     rf"`num_samples` must be in {_INT32}"),
    ("negative-num_steps-beyond-int32", "interpolate", (_X, _X, -2**31 - 1),
     ValueError, rf"`num_steps` must be in {_INT32}"),
    ("negative-pixel", "bits_per_dim", (np.full((1, 8, 8, 1), -1),),
     ValueError, r"`images` must be in \[0, 255\] \(uint8\); got values "
     r"from -1 to -1"),
    ("pixel-256", "bits_per_dim", (np.full((1, 8, 8, 1), 256),), ValueError,
     r"`images` must be in \[0, 255\] \(uint8\); got values from 256"),
    ("non-integer-pixel", "bits_per_dim", (np.full((1, 8, 8, 1), 1.5),),
     ValueError, r"`images` must hold integers \(uint8\)"),
    ("bool-num_samples", "sample", (True,), TypeError,
     r"`num_samples` must hold numbers \(int32\); got booleans"),
    ("bool-images", "log_prob", (np.ones((1, 8, 8, 1), bool),), TypeError,
     r"`images` must hold numbers \(float32\); got booleans"),
    ("a-boolean-among-the-seed", "sample", (2, 1.0, [True, 2]), TypeError,
     r"`seed` must hold numbers \(int64\); got booleans among them"),
    ("string-temperature", "sample", (2, "hot"), TypeError,
     r"`temperature` must hold numbers \(float32\); got strings"),
    ("none-temperature", "sample", (2, None), TypeError,
     r"`temperature` must hold numbers \(float32\); got non-numbers such as "
     r"None"),
    ("temperature-beyond-float32", "sample", (2, 1e39), ValueError,
     r"`temperature` must fit float32; got values up to 1e\+39"),
    ("ragged-images", "log_prob", ([[[[0.0]]], [[[0.0], [1.0]]]],),
     ValueError, r"`images` must be an array of numbers; got a ragged or "
     r"mixed list"),
]


@pytest.mark.parametrize("method, args, error, message",
                         [case[1:] for case in BAD_ARGUMENTS],
                         ids=[case[0] for case in BAD_ARGUMENTS])
def test_both_clients_refuse_bad_arguments_before_sending(
    double, method, args, error, message):
  client, server = double
  with pytest.raises(error, match=message):
    getattr(client, method)(*args)
  assert not server.requests


def test_both_clients_refuse_unknown_signatures_and_inputs(double):
  client, server = double
  with pytest.raises(ValueError, match=r"`signature_name` must be one of "
                     r"\[.*'score'\]; got 'predict'"):
    client.predict("predict", {"images": _X})
  with pytest.raises(ValueError, match=r"Signature 'log_prob' takes inputs "
                     r"\['images'\]; got \['pixels'\]"):
    client.predict("log_prob", {"pixels": _X})
  with pytest.raises(TypeError, match="`inputs` must be a dict"):
    client.predict("log_prob", [_X])
  assert not server.requests


def test_both_clients_pass_on_what_only_the_server_checks(double):
  client, server = double
  # Another image shape than the model's: the graph's check answers.
  with pytest.raises(PredictError, match=rf"(?s){_source(client)}: .*"
                     r"`images` must be a batch of shape \[n, 8, 8, 1\] "
                     r".*; got shape\] \[2 4 8 1\]"):
    client.log_prob(_X[:, :4])
  with pytest.raises(PredictError, match=rf"(?s){_source(client)}: .*"
                     r"`num_samples` must be a scalar in \[1, 16\]; got\] "
                     r"\[-3\]"):
    client.sample(-3)
  assert len(server.requests) == 2


def _bad_outputs():
  """`(id, method, args, outputs, message)`: a call, and outputs of the
  response to it that do not fit the request."""
  x = np.zeros((4, 8, 8, 1), np.float32)

  def f(*shape):
    return np.zeros(shape, np.float32)

  def u(*shape):
    return np.zeros(shape, np.uint8)

  def scores(**outputs):
    return {**{k: f(4) for k in ("bits_per_dim", "complexity_bits_per_dim",
                                 "ood_score", "typicality")},
            "is_outlier": np.zeros(4, bool), **outputs}

  def with_nan(array, count):
    array = array.copy()
    array.flat[:count] = np.nan
    return array

  return [
      ("nan-score-beside-is_outlier-false", "score", (u(4, 8, 8, 1),),
       scores(ood_score=with_nan(f(4), 1)),
       r"output `ood_score` holds 1 NaN or inf of 4 values; the signature "
       r"returns finite values only"),
      ("inf-log_prob", "log_prob", (x,),
       {"log_prob": np.array([0, np.inf, -np.inf, 0], np.float32)},
       r"output `log_prob` holds 2 NaN or inf of 4 values"),
      ("nan-samples", "sample", (2,),
       {"images": with_nan(f(2, 8, 8, 1), 3), "pixels": u(2, 8, 8, 1)},
       r"output `images` holds 3 NaN or inf of 128 values"),
      ("nan-latents", "encode", (x,), {"z": with_nan(f(4, 8, 8, 1), 256)},
       r"output `z` holds 256 NaN or inf of 256 values"),
      ("an-extra-output", "bits_per_dim", (u(4, 8, 8, 1),),
       {"log_prob": f(4), "bits_per_dim": f(4), "nats": f(4)},
       r"it has outputs the signature does not declare, `nats`; got "
       r"\['bits_per_dim', 'log_prob', 'nats'\]"),
      ("log_prob-of-3-for-4-images", "log_prob", (x,), {"log_prob": f(3)},
       r"output `log_prob` must have shape \[n\] with n = 4 \(from "
       r"`images`\); got shape \[3\]"),
      ("log_prob-per-pixel", "log_prob", (x,), {"log_prob": f(4, 8)},
       r"output `log_prob` must have shape \[n\] \(rank 1\); got shape "
       r"\[4, 8\]"),
      ("no-bits_per_dim", "bits_per_dim", (u(4, 8, 8, 1),),
       {"log_prob": f(4)}, r"lacks outputs .*bits_per_dim"),
      ("is_outlier-of-floats", "score", (u(4, 8, 8, 1),),
       {**{k: f(4) for k in ("bits_per_dim", "complexity_bits_per_dim",
                             "ood_score", "typicality")},
        "is_outlier": f(4)},
       r"output `is_outlier` (holds float\w*, not booleans|has dtype "
       r"float32; the signature returns bool)"),
      ("is_outlier-of-3-for-4", "score", (u(4, 8, 8, 1),),
       {**{k: f(4) for k in ("bits_per_dim", "complexity_bits_per_dim",
                             "ood_score", "typicality")},
        "is_outlier": np.zeros(3, bool)},
       r"output `is_outlier` must have shape \[n\] with n = 4 \(from "
       r"`images`\); got shape \[3\]"),
      ("unbatched-samples", "sample", (2,),
       {"images": f(8, 8, 1), "pixels": u(8, 8, 1)},
       r"output `images` must have shape \[num_samples, H, W, C\] \(rank "
       r"4\); got shape \[8, 8, 1\]"),
      ("3-samples-for-2", "sample", (2,),
       {"images": f(3, 8, 8, 1), "pixels": u(3, 8, 8, 1)},
       r"output `images` must have shape \[num_samples, H, W, C\] with "
       r"num_samples = 2 \(from `num_samples`\); got shape \[3, 8, 8, 1\]"),
      ("pixels-of-another-height", "sample", (2,),
       {"images": f(2, 8, 8, 1), "pixels": u(2, 4, 8, 1)},
       r"output `pixels` must have shape \[num_samples, H, W, C\] with "
       r"H = 8 \(from output `images`\); got shape \[2, 4, 8, 1\]"),
      ("z-of-other-channels", "encode", (x,), {"z": f(4, 8, 8, 2)},
       r"output `z` must have shape \[n, H, W, C\] with C = 1 \(from "
       r"`images`\); got shape \[4, 8, 8, 2\]"),
      ("empty-decode", "decode", (x,), {"images": f(0, 8, 8, 1)},
       # (An empty JSON list has no inner sizes.)
       r"output `images` must have shape \[n, H, W, C\] (with n = 4|\(rank "
       r"4\); got shape \[0\])"),
      ("4-steps-for-3", "interpolate", (x[:2], x[2:], 3),
       {"images": f(2, 4, 8, 8, 1)},
       r"output `images` must have shape \[n, num_steps, H, W, C\] with "
       r"num_steps = 3 \(from `num_steps`\); got shape \[2, 4, 8, 8, 1\]"),
  ]


_SIGNATURE_OF = {"bits_per_dim": "serving_default", "log_prob": "log_prob",
                 "sample": "sample", "encode": "encode", "decode": "decode",
                 "interpolate": "interpolate", "score": "score"}


def _answer(server, method, outputs):
  """Makes `server` answer every request of `method` with `outputs`."""
  if isinstance(server, serving_doubles.FakeRestServer):
    values = {k: v.tolist() for k, v in outputs.items()}
    # TF Serving omits the name of a signature's single output.
    single = len(client_lib.SIGNATURES[_SIGNATURE_OF[method]].outputs) == 1
    body = {"outputs": next(iter(values.values())) if single else values}
    server.reply = CannedReply(json.dumps(body))
  else:
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    server.respond = lambda request, context: response


@pytest.mark.parametrize("method, args, outputs, message",
                         [case[1:] for case in _bad_outputs()],
                         ids=[case[0] for case in _bad_outputs()])
def test_both_clients_refuse_outputs_that_do_not_fit_the_request(
    double, method, args, outputs, message):
  client, server = double
  _answer(server, method, outputs)
  with pytest.raises(PredictError, match=rf"Invalid response from "
                     rf"{_source(client)} for '.*': .*{message}"):
    getattr(client, method)(*args)
  assert len(server.requests) == 1


def test_both_clients_report_an_unreachable_server(double):
  client, _ = double
  with socket.socket() as s:   # a free port, closed: connection refused
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  if isinstance(client, RestClient):
    closed = RestClient(MODEL_NAME, "127.0.0.1", port, timeout=5)
    message = (rf"Cannot connect to {re.escape(closed.url)}: connection "
               "refused")
  else:
    closed = GrpcClient(MODEL_NAME, f"127.0.0.1:{port}", timeout=5)
    message = rf"UNAVAILABLE from 127\.0\.0\.1:{port}: "
  with pytest.raises(PredictError, match=message):
    closed.log_prob(_X)


def test_both_clients_report_a_timeout(double):
  client, server = double
  client.timeout = 0.2
  if isinstance(client, RestClient):
    server.reply = CannedReply('{"outputs": [0, 0]}', delay=1.0)
    message = rf"No answer from {_source(client)} within 0.2 s"
  else:
    def slow(request, context):
      del request, context
      time.sleep(1.0)
      return predict_pb2.PredictResponse()
    server.respond = slow
    message = rf"DEADLINE_EXCEEDED from {_source(client)}: "
  with pytest.raises(PredictError, match=message):
    client.log_prob(_X)


_HTML_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>"
             "\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>"
             "nginx</center>\r\n</body>\r\n</html>\r\n")

# (id, method, reply, message): REST answers that are not valid responses;
# `{url}` is the client's URL.
BAD_REST_REPLIES = [
    ("malformed-json", "log_prob", CannedReply('{"outputs": [1.0, 2.0'),
     r"Invalid response from {url}: HTTP 200 with a body that is not JSON "
     r"\(Expecting .*\): '\{\"outputs\": \[1.0, 2.0'"),
    ("truncated", "log_prob",
     CannedReply('{"outputs": [1.0, 2.0', missing_bytes=50),
     r"Truncated response from {url}: the connection closed after 21 bytes "
     r"of the body, 50 more were announced"),
    ("html-page-with-200", "log_prob",
     CannedReply(_HTML_502, content_type="text/html"),
     r"Invalid response from {url}: HTTP 200 with a body that is an HTML "
     r"page: '502 Bad Gateway 502 Bad Gateway nginx'"),
    ("html-page-with-502", "log_prob",
     CannedReply(_HTML_502, status=502, content_type="text/html"),
     r"HTTP 502 from {url}: Bad Gateway; not a TF Serving error but an HTML "
     r"page: '502 Bad Gateway 502 Bad Gateway nginx'"),
    ("error-with-200", "log_prob", CannedReply('{"error": "out of memory"}'),
     r"Error from {url}: out of memory"),
    ("nulls", "log_prob", CannedReply('{"outputs": [null, null]}'),
     r"Invalid response from {url} for 'log_prob': output `log_prob` holds "
     r"null values"),
    ("a-null-in-a-row", "bits_per_dim", CannedReply(
        '{"predictions": [{"log_prob": 1, "bits_per_dim": 2}, '
        '{"log_prob": 1, "bits_per_dim": null}]}'),
     r"output `bits_per_dim` holds null values"),
    ("ragged", "encode", CannedReply('{"outputs": [[1, 2], [3]]}'),
     r"output `z` is a ragged list"),
    ("strings", "log_prob", CannedReply('{"outputs": ["-1.5", "-2.5"]}'),
     r"output `log_prob` holds strings, not float32 values"),
    ("booleans", "log_prob", CannedReply('{"outputs": [true, false]}'),
     r"output `log_prob` holds booleans"),
    ("row-without-a-key", "bits_per_dim", CannedReply(
        '{"predictions": [{"log_prob": 1, "bits_per_dim": 2}, '
        '{"log_prob": 1}]}'),
     r"'predictions' row 1 must be an object of the outputs `log_prob`, "
     r"`bits_per_dim`; got keys \['log_prob'\]"),
    ("outputs-list-for-two-outputs", "bits_per_dim",
     CannedReply('{"outputs": [1, 2]}'),
     r"'outputs' must be an object of the outputs `log_prob`, "
     r"`bits_per_dim`; got list"),
    ("predictions-not-a-list", "log_prob",
     CannedReply('{"predictions": {"log_prob": [1, 2]}}'),
     r"'predictions' must be a list \(one entry per example\); got dict"),
    ("neither-format", "log_prob", CannedReply('{"result": [1, 2]}'),
     r"a predict response holds 'outputs' or 'predictions'; got keys "
     r"\['result'\]"),
    ("top-level-list", "log_prob", CannedReply("[1, 2]"),
     r"a predict response is a JSON object; got list '\[1, 2\]'"),
    ("top-level-string", "log_prob", CannedReply('"ok"'),
     r"a predict response is a JSON object; got str"),
    ("missing-output", "bits_per_dim",
     CannedReply('{"outputs": {"log_prob": [1, 2]}}'),
     r"it lacks outputs `bits_per_dim`; got \['log_prob'\]"),
    ("pixels-beyond-uint8", "sample", CannedReply(
        '{"outputs": {"images": [[[[0.5]]]], "pixels": [[[[300]]]]}}'),
     r"output `pixels` holds values from 300 to 300, outside uint8"),
    ("non-integer-pixels", "sample", CannedReply(
        '{"outputs": {"images": [[[[0.5]]]], "pixels": [[[[0.5]]]]}}'),
     r"output `pixels` holds non-integers, not uint8 values"),
    ("log_prob-beyond-float32", "log_prob",
     CannedReply('{"outputs": [1e39, 0]}'),
     r"output `log_prob` holds values beyond the float32 range"),
    ("a-nan-token", "log_prob", CannedReply('{"outputs": [NaN, -1.0]}'),
     r"Invalid response from {url} for 'log_prob': output `log_prob` holds "
     r"1 NaN or inf of 2 values; the signature returns finite values only"),
    ("infinity-tokens-in-rows", "bits_per_dim", CannedReply(
        '{"predictions": [{"log_prob": -Infinity, "bits_per_dim": Infinity},'
        ' {"log_prob": 1, "bits_per_dim": 2}]}'),
     r"output `log_prob` holds 1 NaN or inf of 2 values"),
    ("a-literal-beyond-float64", "log_prob",
     CannedReply('{"outputs": [1e999, 0]}'),
     r"output `log_prob` holds 1 NaN or inf of 2 values"),
    ("a-nan-score-beside-is_outlier-false", "score", CannedReply(
        '{"predictions": [{"bits_per_dim": 1, "complexity_bits_per_dim": 1, '
        '"ood_score": 0, "typicality": NaN, "is_outlier": false}, '
        '{"bits_per_dim": 1, "complexity_bits_per_dim": 1, "ood_score": 0, '
        '"typicality": 0, "is_outlier": false}]}'),
     r"output `typicality` holds 1 NaN or inf of 2 values"),
    ("a-null-score-beside-is_outlier-false", "score", CannedReply(
        '{"outputs": {"bits_per_dim": [1, 1], "complexity_bits_per_dim": '
        '[1, 1], "ood_score": [null, 0], "typicality": [0, 0], '
        '"is_outlier": [false, false]}}'),
     r"output `ood_score` holds null values"),
    ("a-nan-is_outlier", "score", CannedReply(
        '{"outputs": {"bits_per_dim": [1, 1], "complexity_bits_per_dim": '
        '[1, 1], "ood_score": [0, 0], "typicality": [0, 0], '
        '"is_outlier": [NaN, false]}}'),
     r"output `is_outlier` holds float64, not booleans"),
    ("nan-pixels", "sample", CannedReply(
        '{"outputs": {"images": [[[[0.5]]]], "pixels": [[[[NaN]]]]}}'),
     r"output `pixels` holds NaN or inf, not uint8 values"),
    ("booleans-among-numbers", "log_prob",
     CannedReply('{"outputs": [true, -1.5]}'),
     r"output `log_prob` holds booleans among its numbers"),
    ("strings-among-numbers", "log_prob",
     CannedReply('{"outputs": ["-1.5", 2.0]}'),
     r"output `log_prob` holds strings, not float32 values"),
    ("an-integer-beyond-64-bits", "log_prob",
     CannedReply('{"outputs": [1, ' + "9" * 400 + "]}"),
     r"output `log_prob` holds integers beyond 64 bits"),
    ("objects", "log_prob", CannedReply('{"outputs": [{"value": 1}, 2]}'),
     r"output `log_prob` holds objects"),
    ("a-row-with-an-extra-key", "bits_per_dim", CannedReply(
        '{"predictions": [{"log_prob": 1, "bits_per_dim": 2, "nats": 3}, '
        '{"log_prob": 1, "bits_per_dim": 2}]}'),
     r"'predictions' row 0 must be an object of the outputs `log_prob`, "
     r"`bits_per_dim`; got keys \['bits_per_dim', 'log_prob', 'nats'\]"),
    ("nested-beyond-the-recursion-limit", "log_prob",
     CannedReply('{"outputs": ' + "[" * 100_000 + "]" * 100_000 + "}"),
     r"Invalid response from {url}: HTTP 200 with a body that is not JSON "
     r"\(maximum recursion depth exceeded"),
    ("nested-beyond-numpys-dimensions", "encode",
     CannedReply('{"outputs": ' + "[" * 70 + "1" + "]" * 70 + "}"),
     r"output `z` is not an array \(.*maximum number of dimension"),
]

_CALLS = {"log_prob": lambda c: c.log_prob(_X),
          "bits_per_dim": lambda c: c.bits_per_dim(_PIXELS),
          "encode": lambda c: c.encode(_X),
          "sample": lambda c: c.sample(1),
          "score": lambda c: c.score(_PIXELS)}


@pytest.mark.parametrize("method, reply, message",
                         [case[1:] for case in BAD_REST_REPLIES],
                         ids=[case[0] for case in BAD_REST_REPLIES])
def test_the_rest_client_refuses_bodies_that_are_not_valid_responses(
    rest_server, method, reply, message):
  client = RestClient(MODEL_NAME, "127.0.0.1", rest_server.port, timeout=30)
  rest_server.reply = reply
  try:
    with pytest.raises(PredictError,
                       match=message.replace("{url}", re.escape(client.url))):
      _CALLS[method](client)
  finally:
    rest_server.reply = None


def _tensor(dtype, shape, content):
  proto = tf.make_tensor_proto(np.zeros(shape, dtype))
  proto.tensor_content = content
  return proto


def _shaped(shape, *values):
  """A float32 `TensorProto` of `shape` holding `values` in `float_val`."""
  proto = tf.make_tensor_proto(np.zeros(0, np.float32))
  del proto.tensor_shape.dim[:]
  for size in shape:
    proto.tensor_shape.dim.add(size=size)
  proto.tensor_content = b""
  proto.float_val.extend(values)
  return proto


# (id, method, outputs, message): gRPC outputs of the wrong dtype or none,
# or whose values do not fill their shape.
BAD_GRPC_OUTPUTS = [
    ("no-outputs", "log_prob", {},
     r"it lacks outputs `log_prob`; got \[\]"),
    ("float64-log_prob", "log_prob",
     {"log_prob": tf.make_tensor_proto(np.zeros(2, np.float64))},
     r"output `log_prob` has dtype float64; the signature returns float32"),
    ("float-pixels", "sample",
     {"images": tf.make_tensor_proto(np.zeros((1, 8, 8, 1), np.float32)),
      "pixels": tf.make_tensor_proto(np.zeros((1, 8, 8, 1), np.float32))},
     r"output `pixels` has dtype float32; the signature returns uint8"),
    ("string-z", "encode", {"z": tf.make_tensor_proto(["a", "b"])},
     r"output `z` has dtype string; the signature returns float32"),
    ("short-tensor-content", "log_prob",
     {"log_prob": _tensor(np.float32, [2], b"\0" * 7)},
     r"output `log_prob` holds 7 bytes, not a whole number of float32 "
     r"values"),
    ("one-value-in-tensor-content", "log_prob",
     {"log_prob": _tensor(np.float32, [2], b"\0" * 4)},
     r"output `log_prob` declares shape \[2\] \(2 values\) but holds 1"),
    ("a-shape-without-values", "log_prob", {"log_prob": _shaped([2])},
     r"output `log_prob` declares shape \[2\] \(2 values\) but holds 0"),
    ("one-value-for-a-huge-shape", "log_prob",
     {"log_prob": _shaped([2**40], 7.0)},
     r"output `log_prob` declares shape \[1099511627776\] \(1099511627776 "
     r"values\) but holds 1"),
    ("a-negative-dimension", "log_prob", {"log_prob": _shaped([-2])},
     r"output `log_prob` declares a negative dimension: shape \[-2\]"),
]


@pytest.mark.parametrize("method, outputs, message",
                         [case[1:] for case in BAD_GRPC_OUTPUTS],
                         ids=[case[0] for case in BAD_GRPC_OUTPUTS])
def test_the_grpc_client_refuses_outputs_of_a_wrong_dtype(
    grpc_server, method, outputs, message):
  response = predict_pb2.PredictResponse()
  for name, proto in outputs.items():
    response.outputs[name].CopyFrom(proto)
  grpc_server.respond = lambda request, context: response
  try:
    with GrpcClient(MODEL_NAME, grpc_server.target, timeout=30) as client:
      with pytest.raises(PredictError, match=rf"Invalid response from "
                         rf"{re.escape(grpc_server.target)} for '.*': "
                         rf"{message}"):
        _CALLS[method](client)
  finally:
    grpc_server.respond = None


_ANSWER = '{"outputs": [-1.0, -2.0]}'


@pytest.mark.parametrize("content_length", [True, False])
def test_the_rest_client_reads_no_body_beyond_max_response_bytes(
    rest_server, content_length):
  """With `Content-Length` the body is refused unread; without, reading
  stops one byte past the limit. A body of exactly the limit is read."""
  size = len(_ANSWER)
  try:
    rest_server.reply = CannedReply(_ANSWER, content_length=content_length)
    exact = RestClient(MODEL_NAME, "127.0.0.1", rest_server.port,
                       timeout=30, max_response_bytes=size)
    np.testing.assert_array_equal(exact.log_prob(_X), [-1.0, -2.0])
    small = RestClient(MODEL_NAME, "127.0.0.1", rest_server.port,
                       timeout=30, max_response_bytes=size - 1)
    got = (rf"announces {size} bytes" if content_length else
           rf"holds more than {size - 1} bytes")
    with pytest.raises(PredictError, match=(
        rf"Response from {re.escape(small.url)} {got}, more than "
        rf"max_response_bytes={size - 1}; it was not read")):
      small.log_prob(_X)
    # An error's body too: its first max_response_bytes only.
    rest_server.reply = CannedReply("x" * 5000, status=500,
                                    content_type="text/plain",
                                    content_length=content_length)
    with pytest.raises(PredictError, match=(
        rf"HTTP 500 from {re.escape(small.url)}: Internal Server Error; not a "
        rf"TF Serving error but a body: 'x{{{size - 1}}}'$")):
      small.log_prob(_X)
  finally:
    rest_server.reply = None


def test_the_grpc_client_receives_no_response_beyond_max_response_bytes(
    grpc_server):
  response = predict_pb2.PredictResponse()
  response.outputs["log_prob"].CopyFrom(
      tf.make_tensor_proto(np.zeros(2, np.float32)))
  size = response.ByteSize()
  grpc_server.respond = lambda request, context: response
  try:
    with GrpcClient(MODEL_NAME, grpc_server.target, timeout=30,
                    max_response_bytes=size) as client:
      np.testing.assert_array_equal(client.log_prob(_X), [0.0, 0.0])
    with GrpcClient(MODEL_NAME, grpc_server.target, timeout=30,
                    max_response_bytes=size - 1) as client:
      with pytest.raises(PredictError, match=(
          rf"RESOURCE_EXHAUSTED from {re.escape(grpc_server.target)}: .*"
          rf"\(this client's max_response_bytes is {size - 1}\)")):
        client.log_prob(_X)
  finally:
    grpc_server.respond = None


@pytest.mark.parametrize("client_class", [RestClient, GrpcClient])
@pytest.mark.parametrize("kwargs, message", [
    (dict(version=1.5), "`version` must be an int >= 0 or None; got 1.5"),
    (dict(version=True), "`version` must be an int >= 0 or None; got True"),
    (dict(version=-1), "`version` must be an int >= 0 or None; got -1"),
    (dict(timeout=0), "`timeout` must be a finite number of seconds > 0; "
                      "got 0"),
    (dict(timeout=float("nan")), "`timeout` must be a finite number"),
    (dict(max_response_bytes=0), "`max_response_bytes` must be an int >= 1; "
                                 "got 0"),
    (dict(max_response_bytes=1e6), "`max_response_bytes` must be an int"),
])
def test_both_clients_refuse_bad_settings(client_class, kwargs, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    client_class(MODEL_NAME, **kwargs)
