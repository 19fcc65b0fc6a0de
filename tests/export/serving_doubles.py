"""Test doubles of TF Serving: its gRPC PredictionService and REST API.

TF Serving's server binary cannot be installed on the test machines. These
doubles answer from an exported SavedModel through TF's session-based loader
(`tf.compat.v1.saved_model.loader.load`, the loading path of the C++
server), on 127.0.0.1 only. They implement the parts of the real server's
API that the clients use: `Predict` by model name, optional version and
signature name, and the REST `:predict` endpoint with the row and columnar
JSON formats of https://www.tensorflow.org/tfx/serving/api_rest, errors as
`{"error": message}`.

Like the C++ server, they feed a request's tensors to the session without
checking them against the signature's shapes, so the graph's own checks
answer. For the clients' error paths, both servers record every request they
receive and can be told to answer with a canned (bad) response instead.
"""

import concurrent.futures
import dataclasses
import http.server
import json
import os
import re
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

__all__ = ["CannedReply", "FakeGrpcServer", "FakeRestServer",
           "SessionModel"]


_SHARED = {}


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

  @classmethod
  def shared(cls, base_path, model_name):
    """One `SessionModel` per export and name for the whole test process.

    Each signature's first run in a session optimizes its graph (seconds);
    the export tests share the session instead of paying that per module.
    Do not `close` it.
    """
    key = (os.path.abspath(base_path), model_name)
    if key not in _SHARED:
      _SHARED[key] = cls(base_path, model_name)
    return _SHARED[key]

  def check_spec(self, name, version):
    """A NOT_FOUND-style message for another model or version, else None."""
    if name != self.model_name or version not in (None, self.version):
      wanted = (f"Latest({name})" if version is None else
                f"Specific({name}, {version})")
      return f"Servable not found for request: {wanted}"
    return None

  def run(self, signature_name, inputs, output_filter=None):
    """Runs a signature; raises `KeyError` or `ValueError` for bad requests.

    Inputs are converted to each input's declared dtype, as the server does
    when it parses JSON numbers, and fed whatever their shape: the session
    is run through TF's C API, without the shape check of the Python
    `Session.run` that the C++ server does not have either. TF errors
    propagate. `output_filter` (a list of output names, as in TF Serving's
    `PredictRequest`) fetches those outputs only.
    """
    signature_name = signature_name or "serving_default"
    if signature_name not in self.signatures:
      raise KeyError(f"Serving signature name: \"{signature_name}\" not "
                     "found in signature def")
    signature = self.signatures[signature_name]
    if set(inputs) != set(signature.inputs):
      raise ValueError(f"Expected inputs {sorted(signature.inputs)}, got "
                       f"{sorted(inputs)}")
    # pylint: disable=protected-access
    def output(tensor_name):   # a TF_Output, as the C API takes
      return self._graph.get_tensor_by_name(tensor_name)._as_tf_output()

    feeds = {}
    for name, info in signature.inputs.items():
      dtype = tf.as_dtype(info.dtype).as_numpy_dtype
      feeds[output(info.name)] = np.asarray(inputs[name]).astype(dtype)
    names = sorted(output_filter or signature.outputs)
    fetches = [output(signature.outputs[name].name) for name in names]
    with self._lock:
      values = self._session._call_tf_sessionrun(None, feeds, fetches, [],
                                                 None)
    return dict(zip(names, values))

  def close(self):
    self._session.close()


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self, model, owner):
    self._model = model
    self._owner = owner

  def Predict(self, request, context):  # pylint: disable=invalid-name
    self._owner.requests.append(request)
    if self._owner.respond is not None:
      return self._owner.respond(request, context)
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
  """A PredictionService on 127.0.0.1:<free port>; `target` to connect.

  `requests` records every `PredictRequest` received. Setting `respond` to
  a function `(request, context) -> PredictResponse` answers with it
  instead of the model (`None`, the default, restores the model).
  """

  def __init__(self, model):
    self.requests = []
    self.respond = None
    self._server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(model, self), self._server)
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


@dataclasses.dataclass
class CannedReply:
  """A fixed HTTP answer of `FakeRestServer`, valid or not.

  Attributes:
    body: the bytes sent (a `str` is UTF-8 encoded).
    status: the HTTP status.
    content_type: the `Content-Type` header.
    missing_bytes: announce this many bytes more in `Content-Length` than
      are sent, then close the connection (a truncated body).
    delay: seconds to wait before answering.
    content_length: whether to send `Content-Length`; without it, the body
      ends when the connection closes.
  """

  body: object = b""
  status: int = 200
  content_type: str = "application/json"
  missing_bytes: int = 0
  delay: float = 0.0
  content_length: bool = True


class FakeRestServer:
  """TF Serving's REST `:predict` on 127.0.0.1:<free port>; see `port`.

  `requests` records every JSON body received, to check what clients send.
  Setting `reply` to a `CannedReply` answers every request with it instead
  of the model (`None`, the default, restores the model).
  """

  def __init__(self, model):
    self.requests = []
    self.reply = None
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
          if owner.reply is None:
            status, reply = _rest_predict(model, self.path, body)
        canned = owner.reply or CannedReply(json.dumps(reply), status)
        data = canned.body
        if isinstance(data, str):
          data = data.encode("utf-8")
        time.sleep(canned.delay)
        try:
          self.send_response(canned.status)
          self.send_header("Content-Type", canned.content_type)
          if canned.content_length:
            self.send_header("Content-Length",
                             str(len(data) + canned.missing_bytes))
          self.end_headers()
          self.wfile.write(data)
        except ConnectionError:   # the client gave up (a timeout or limit)
          pass
        if canned.missing_bytes or not canned.content_length:
          self.close_connection = True

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
