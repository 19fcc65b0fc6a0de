"""gRPC client for a flow served by TF Serving (`PredictionService.Predict`).

Needs the `tensorflow-serving-api` package (the `serving` extra). Inputs and
outputs are checked as by the REST client (`flow_client.FlowClient`), and
the errors are the same: `ValueError` or `TypeError` for a bad argument
(nothing is sent), `PredictError` naming the target for anything from the
server.

#### Examples

```python
with GrpcClient("mnist", "localhost:8500") as client:
  out = client.sample(16, temperature=0.7, seed=(1, 2))
```
"""

import math

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from .client_checks import check_outputs
from .client_checks import collect_outputs
from .client_checks import conditional_request
from .errors import PredictError
from .flow_client import DEFAULT_MAX_RESPONSE_BYTES
from .flow_client import FlowClient

__all__ = ["GrpcClient", "parse_grpc_response"]


def _dtype_name(enum):
  try:
    return tf.dtypes.as_dtype(enum).name
  except TypeError:
    return f"an unknown dtype (enum {enum})"


# The field of a `TensorProto` that holds the values of each output dtype
# of the contract, when they are not in `tensor_content`.
_VALUE_FIELDS = {"float32": "float_val", "uint8": "int_val",
                 "int32": "int_val", "bool": "bool_val"}


def _tensor_array(proto, dtype, what):
  """A `TensorProto` as an array of `dtype`; raises `PredictError` naming
  `what` (`"... output `x`"`) for another dtype or an invalid tensor.

  A tensor must hold each of the values its shape declares, as TF Serving
  writes them: `tf.make_ndarray` would fill a tensor of no values with
  zeros, and repeat a single value to the shape (however large).
  """
  if proto.dtype != tf.as_dtype(dtype).as_datatype_enum:
    raise PredictError(f"{what} has dtype {_dtype_name(proto.dtype)}; the "
                       f"signature returns {dtype}.")
  shape = [d.size for d in proto.tensor_shape.dim]
  if any(size < 0 for size in shape):
    raise PredictError(f"{what} declares a negative dimension: shape "
                       f"{shape}.")
  size = math.prod(shape)
  if proto.tensor_content:
    held, extra = divmod(len(proto.tensor_content), np.dtype(dtype).itemsize)
    if extra:
      raise PredictError(f"{what} holds {len(proto.tensor_content)} bytes, "
                         f"not a whole number of {dtype} values.")
  else:
    held = len(getattr(proto, _VALUE_FIELDS[dtype]))
  if held != size:
    raise PredictError(f"{what} declares shape {shape} ({size} values) but "
                       f"holds {held}.")
  try:
    return tf.make_ndarray(proto)
  except (ValueError, TypeError) as err:
    raise PredictError(
        f"{what} is not a valid {dtype} tensor ({err}).") from None


def parse_grpc_response(signature_name, response, inputs=None,
                        target="the server", conditional=None):
  """The outputs of a `PredictResponse`, as arrays of their dtypes.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    response: a `PredictResponse`.
    inputs: the request (from `client_checks.prepare_inputs`), to check the
      output shapes against (see `client_checks.check_outputs`), or `None`.
    target: the server's `host:port`, for messages.
    conditional: whether the request was for a class-conditional model;
      `None`: whether `inputs` hold `labels`.

  Returns:
    `{output name: np.ndarray}` of the signature's dtypes.

  Raises:
    PredictError: the response lacks an output, or holds one of another
      dtype or shape, or one that is not a valid tensor.
  """
  conditional = conditional_request(inputs, conditional)
  outputs = collect_outputs(signature_name, response.outputs, _tensor_array,
                            target, conditional)
  return check_outputs(signature_name, outputs, inputs, target, conditional)


class GrpcClient(FlowClient):
  """Calls TF Serving's gRPC `PredictionService.Predict`.

  A call raises `PredictError` naming `target` with the gRPC status and the
  server's message for a refused request, no connection or no answer
  within `timeout`, or for a response that is not a valid answer. Close the
  channel with `close`, or use the client as a context manager.

  Args:
    model_name: `--model_name` of the server.
    target: `host:port` of the server's `--port` (8500 in TF Serving's
      examples).
    version: a model version, or `None` for the newest.
    timeout: seconds per request.
    max_response_bytes: the largest response to receive
      (`flow_client.FlowClient`; gRPC's own default is 4 MiB).
  """

  def __init__(self, model_name, target="localhost:8500", version=None,
               timeout=60.0, max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES):
    super().__init__(model_name, version, timeout, max_response_bytes)
    self.target = target
    # gRPC takes a C int.
    self._channel = grpc.insecure_channel(target, options=[
        ("grpc.max_receive_message_length",
         min(self.max_response_bytes, 2**31 - 1))])
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
        self._channel)

  @property
  def source(self):
    """`target`."""
    return self.target

  def _send(self, signature_name, arrays):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = signature_name
    if self.version is not None:
      request.model_spec.version.value = self.version
    for name, array in arrays.items():
      request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as err:
      code = err.code() if hasattr(err, "code") else None
      details = err.details() if hasattr(err, "details") else str(err)
      if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        details += (f" (this client's max_response_bytes is "
                    f"{self.max_response_bytes})")
      raise self._refused(getattr(code, "name", "UNKNOWN"), details) from None
    return collect_outputs(signature_name, response.outputs, _tensor_array,
                           self.target, conditional_request(arrays))

  def close(self):
    """Closes the channel."""
    self._channel.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
