"""gRPC client for a flow served by TF Serving (`PredictionService.Predict`).

Needs the `tensorflow-serving-api` package (the `serving` extra).

```python
with GrpcClient("mnist", "localhost:8500") as client:
  out = client.sample(16, temperature=0.7, seed=(1, 2))
```
"""

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export.client import FlowClient
from export.client import PredictError
from export.client import prepare_inputs
from export.contract import SIGNATURES

__all__ = ["GrpcClient"]


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
    self.version = version
    self.timeout = timeout
    self._channel = grpc.insecure_channel(target)
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
        self._channel)

  def predict(self, signature_name, inputs):
    """One `Predict` call; returns `{output name: array}`."""
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
      raise PredictError(f"{err.code().name}: {err.details()}") from None
    signature = SIGNATURES[signature_name]
    missing = set(signature.outputs) - set(response.outputs)
    if missing:
      raise PredictError(f"The response lacks outputs {sorted(missing)}.")
    return {name: tf.make_ndarray(response.outputs[name]).astype(
        dtype, copy=False) for name, dtype in signature.outputs.items()}

  def close(self):
    self._channel.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
