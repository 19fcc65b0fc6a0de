"""gRPC client for a flow served by TF Serving (`PredictionService.Predict`).

Needs the `tensorflow-serving-api` package (the `serving` extra).

```python
with GrpcClient("mnist", "localhost:8500") as client:
  out = client.sample(16, temperature=0.7, seed=(1, 2))
```

Inputs are checked by `export.client.prepare_inputs`, as by the REST client,
and errors are those of `export.client`: `ValueError` or `TypeError` for a
bad argument (nothing is sent), `PredictError` naming the target for
anything from the server.
"""

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from .client import FlowClient
from .client import PredictError
from .client import check_outputs
from .client import prepare_inputs
from .contract import SIGNATURES

__all__ = ["GrpcClient", "parse_grpc_response"]


def _dtype_name(enum):
  try:
    return tf.dtypes.as_dtype(enum).name
  except TypeError:
    return f"an unknown dtype (enum {enum})"


def parse_grpc_response(signature_name, response, inputs=None,
                        target="the server"):
  """The outputs of a `PredictResponse`, as arrays of their dtypes.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    response: a `PredictResponse`.
    inputs: the request (from `prepare_inputs`), to check the output shapes
      against (see `export.client.check_outputs`), or `None`.
    target: the server's `host:port`, for messages.

  Returns:
    `{output name: np.ndarray}` of the signature's dtypes.

  Raises:
    PredictError: the response lacks an output, or holds one of another
      dtype or shape, or one that is not a valid tensor.
  """
  signature = SIGNATURES[signature_name]
  where = f"Invalid response from {target} for {signature_name!r}:"
  missing = [name for name in signature.outputs
             if name not in response.outputs]
  if missing:
    raise PredictError(f"{where} it lacks outputs {missing}; got "
                       f"{sorted(response.outputs)}.")
  outputs = {}
  for name, dtype in signature.outputs.items():
    proto = response.outputs[name]
    if proto.dtype != tf.as_dtype(dtype).as_datatype_enum:
      raise PredictError(f"{where} output `{name}` has dtype "
                         f"{_dtype_name(proto.dtype)}; the signature returns "
                         f"{dtype}.")
    try:
      outputs[name] = tf.make_ndarray(proto)
    except (ValueError, TypeError) as err:
      raise PredictError(f"{where} output `{name}` is not a valid "
                         f"{dtype} tensor ({err}).") from None
  return check_outputs(signature_name, outputs, inputs, target)


class GrpcClient(FlowClient):
  """Calls TF Serving's gRPC `PredictionService.Predict`.

  Args:
    model_name: `--model_name` of the server.
    target: `host:port` of the server's `--port` (8500 in TF Serving's
      examples).
    version: a model version, or `None` for the newest.
    timeout: seconds per request.
  """

  def __init__(self, model_name, target="localhost:8500", version=None,
               timeout=60.0):
    self.model_name = model_name
    self.target = target
    self.version = version
    self.timeout = timeout
    self._channel = grpc.insecure_channel(target)
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
        self._channel)

  def predict(self, signature_name, inputs):
    """One `Predict` call.

    Args:
      signature_name: a name of `export.contract.SIGNATURES`.
      inputs: `dict` of input name to array-like.

    Returns:
      `{output name: np.ndarray}` of the signature's dtypes.

    Raises:
      ValueError, TypeError: bad inputs (see `prepare_inputs`); nothing is
        sent.
      PredictError: the server refused the request (the gRPC status and the
        server's message), could not be reached or did not answer within
        `timeout`, or its response is not a valid answer to the request;
        the message names `target`.
    """
    arrays = prepare_inputs(signature_name, inputs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = signature_name
    if self.version is not None:
      request.model_spec.version.value = int(self.version)
    for name, array in arrays.items():
      request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as err:
      code = err.code() if hasattr(err, "code") else None
      details = err.details() if hasattr(err, "details") else str(err)
      raise PredictError(f"{getattr(code, 'name', 'UNKNOWN')} from "
                         f"{self.target}: {details}") from None
    return parse_grpc_response(signature_name, response, arrays, self.target)

  def close(self):
    self._channel.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
