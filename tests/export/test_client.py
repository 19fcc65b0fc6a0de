"""export.client and export.grpc_client against TF Serving test doubles.

The doubles (`serving_doubles`) answer from the exported SavedModel through
TF's session-based loader, on 127.0.0.1; the REST bodies are also checked
against the JSON formats of TF Serving's REST API documentation.
"""

import numpy as np
import pytest

from export import client as client_lib
from export.client import PredictError
from export.client import RestClient
from export.grpc_client import GrpcClient
from tests.export import serving_doubles
from tests.export.expected import assert_outputs_match
from tests.export.expected import expected_outputs
from tests.export.expected import requests_for

MODEL_NAME = "flow"


@pytest.fixture(scope="module")
def session_model(run):
  model = serving_doubles.SessionModel(run.base_path, MODEL_NAME)
  yield model
  model.close()


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
  }


def _check_every_signature(client, run, pixels):
  requests = requests_for(pixels)
  outputs = _call_every_signature(client, requests)
  for signature, want in expected_outputs(run.flow, requests).items():
    assert_outputs_match(outputs[signature], want)
    for name, value in outputs[signature].items():
      assert value.dtype == client_lib.SIGNATURES[signature].outputs[name]


def test_grpc_client_calls_every_signature(grpc_server, run, pixels):
  with GrpcClient(MODEL_NAME, grpc_server.target, version=1) as client:
    _check_every_signature(client, run, pixels)


def test_grpc_errors_carry_the_servers_message(grpc_server, pixels):
  with GrpcClient(MODEL_NAME, grpc_server.target) as client:
    with pytest.raises(PredictError, match=r"(?s)INVALID_ARGUMENT: .*"
                       r"`num_samples` must be a scalar in \[1, 16\]"):
      client.sample(0)
    with pytest.raises(PredictError, match=r"(?s)INVALID_ARGUMENT: .*"
                       r"`images` must be finite and in \[0, 256\)"):
      client.log_prob(pixels[1] + 256)
  with GrpcClient("other", grpc_server.target) as client:
    with pytest.raises(PredictError, match=r"NOT_FOUND: Servable not found "
                       r"for request: Latest\(other\)"):
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
