"""Test doubles of TF Serving: its gRPC PredictionService and REST API.

TF Serving's server binary cannot be installed on the test machines. These
doubles answer from an exported SavedModel through TF's session-based loader
(`tf.compat.v1.saved_model.loader.load`, the loading path of the C++
server), on 127.0.0.1 only. They implement the parts of the real server's
API that the clients use: `Predict` by model name, optional version and
signature name, and the REST `:predict` endpoint with the row and columnar
JSON formats of https://www.tensorflow.org/tfx/serving/api_rest, errors as
`{"error": message}`.
"""

import concurrent.futures
import http.server
import json
import os
import re
import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

__all__ = ["FakeGrpcServer", "FakeRestServer", "SessionModel"]


class SessionModel:
  """A SavedModel loaded into a TF1 session, run by signature name."""

  def __init__(self, base_path, model_name):
    self.model_name = model_name
    versions = sorted(int(v) for v in os.listdir(base_path) if v.isdigit())
    if not versions:
      raise FileNotFoundError(f"No numeric version folder in {base_path}.")
    self.version = versions[-1]
    self._graph = tf.Graph()
    self._session = tf.compat.v1.Session(graph=self._graph)
    meta_graph = tf.compat.v1.saved_model.loader.load(
        self._session, ["serve"], os.path.join(base_path, str(self.version)))
    self.signatures = dict(meta_graph.signature_def)
    self._lock = threading.Lock()

  def check_spec(self, name, version):
    """A NOT_FOUND-style message for another model or version, else None."""
    if name != self.model_name or version not in (None, self.version):
      wanted = (f"Latest({name})" if version is None else
                f"Specific({name}, {version})")
      return f"Servable not found for request: {wanted}"
    return None

  def run(self, signature_name, inputs):
    """Runs a signature; raises `KeyError` or `ValueError` for bad requests.

    Inputs are converted to each input's declared dtype, as the server does
    when it parses JSON numbers; TF errors propagate.
    """
    signature_name = signature_name or "serving_default"
    if signature_name not in self.signatures:
      raise KeyError(f"Serving signature name: \"{signature_name}\" not "
                     "found in signature def")
    signature = self.signatures[signature_name]
    if set(inputs) != set(signature.inputs):
      raise ValueError(f"Expected inputs {sorted(signature.inputs)}, got "
                       f"{sorted(inputs)}")
    feeds = {}
    for name, info in signature.inputs.items():
      dtype = tf.as_dtype(info.dtype).as_numpy_dtype
      feeds[info.name] = np.asarray(inputs[name]).astype(dtype)
    fetches = {name: info.name for name, info in signature.outputs.items()}
    with self._lock:
      return self._session.run(fetches, feeds)

  def close(self):
    self._session.close()


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self, model):
    self._model = model

  def Predict(self, request, context):  # pylint: disable=invalid-name
    spec = request.model_spec
    version = spec.version.value if spec.HasField("version") else None
    missing = self._model.check_spec(spec.name, version)
    if missing:
      context.abort(grpc.StatusCode.NOT_FOUND, missing)
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    try:
      outputs = self._model.run(spec.signature_name, inputs)
    except (KeyError, ValueError, tf.errors.OpError) as err:
      message = err.message if isinstance(err, tf.errors.OpError) else str(
          err)
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = self._model.model_name
    response.model_spec.version.value = self._model.version
    response.model_spec.signature_name = spec.signature_name
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    return response


class FakeGrpcServer:
  """A PredictionService on 127.0.0.1:<free port>; `target` to connect."""

  def __init__(self, model):
    self._server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(model), self._server)
    port = self._server.add_insecure_port("127.0.0.1:0")
    self.target = f"127.0.0.1:{port}"
    self._server.start()

  def stop(self):
    self._server.stop(grace=None)


_PREDICT_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?:predict$")


def _rest_predict(model, path, body):
  """`(status, reply)` for a REST predict call, per TF Serving's docs."""
  match = _PREDICT_PATH.match(path)
  if not match:
    return 404, {"error": f"Malformed request: POST {path}"}
  version = match["version"] and int(match["version"])
  missing = model.check_spec(match["name"], version)
  if missing:
    return 404, {"error": missing}
  if ("instances" in body) == ("inputs" in body):
    return 400, {"error": "JSON object: must have exactly one of "
                          "'instances' or 'inputs'"}
  signature_name = body.get("signature_name", "serving_default")
  signature = model.signatures.get(signature_name)
  if signature is None:
    return 400, {"error": f"Serving signature name: \"{signature_name}\" "
                          "not found in signature def"}
  names = list(signature.inputs)
  if "inputs" in body:
    given = body["inputs"]
    inputs = given if isinstance(given, dict) else {names[0]: given}
  else:
    rows = body["instances"]
    if len(names) == 1:
      inputs = {names[0]: rows}
    else:
      inputs = {name: [row[name] for row in rows] for name in names}
  try:
    outputs = model.run(signature_name, inputs)
  except (KeyError, ValueError, tf.errors.OpError) as err:
    message = err.message if isinstance(err, tf.errors.OpError) else str(err)
    return 400, {"error": message}
  outputs = {name: value.tolist() for name, value in outputs.items()}
  if "inputs" in body:
    if len(outputs) == 1:
      return 200, {"outputs": next(iter(outputs.values()))}
    return 200, {"outputs": outputs}
  if len(outputs) == 1:
    return 200, {"predictions": next(iter(outputs.values()))}
  count = len(next(iter(outputs.values())))
  return 200, {"predictions": [{name: value[i] for name, value in
                                outputs.items()} for i in range(count)]}


class FakeRestServer:
  """TF Serving's REST `:predict` on 127.0.0.1:<free port>; see `port`.

  `requests` records every JSON body received, to check what clients send.
  """

  def __init__(self, model):
    self.requests = []
    owner = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def do_POST(self):  # pylint: disable=invalid-name
        length = int(self.headers.get("Content-Length", 0))
        try:
          body = json.loads(self.rfile.read(length))
        except ValueError as err:
          status, reply = 400, {"error": f"JSON Parse error: {err}"}
        else:
          owner.requests.append(body)
          status, reply = _rest_predict(model, self.path, body)
        data = json.dumps(reply).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      def log_message(self, *args):
        del args

    self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.port = self._server.server_address[1]
    self._thread = threading.Thread(target=self._server.serve_forever,
                                    daemon=True)
    self._thread.start()

  def stop(self):
    self._server.shutdown()
    self._server.server_close()
