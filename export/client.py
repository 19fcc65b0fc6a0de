"""Clients for a flow served by TF Serving: REST here, gRPC in `grpc_client`.

Both clients send the inputs named in `export.contract.SIGNATURES`, cast to
the signature's dtypes, and return each output as a NumPy array with the
signature's dtype:

```python
client = RestClient("mnist", port=8501)   # or grpc_client.GrpcClient("mnist")
bpd = client.bits_per_dim(uint8_images)          # serving_default
out = client.sample(16, temperature=0.7, seed=(1, 2))
out["pixels"]                                    # uint8 [16, 28, 28, 1]
```

A request the server refuses (an invalid value, an unknown model) raises
`PredictError` with the server's message.

REST bodies follow TF Serving's documented JSON formats
(https://www.tensorflow.org/tfx/serving/api_rest): the columnar format
(`{"inputs": {...}}`, the default, for every signature) or the row format
(`{"instances": [...]}`, one entry per example, for the signatures with a
single batched input).
"""

import json
import urllib.error
import urllib.request

import numpy as np

from export.contract import SIGNATURES

__all__ = ["FlowClient", "PredictError", "RestClient", "parse_rest_response",
           "prepare_inputs", "rest_request_body"]


class PredictError(RuntimeError):
  """The server refused a request; the message is the server's."""


def _signature(name):
  if name not in SIGNATURES:
    raise ValueError(f"`signature_name` must be one of {list(SIGNATURES)}; "
                     f"got {name!r}.")
  return SIGNATURES[name]


def _as_input(value, dtype, name):
  """`value` as an array of `dtype`; integers must fit without wrapping."""
  array = np.asarray(value)
  dtype = np.dtype(dtype)
  if np.issubdtype(dtype, np.integer):
    if array.dtype.kind not in "iub" and not (
        array.dtype.kind == "f" and np.all(np.isfinite(array)) and
        np.all(array == np.round(array))):
      raise ValueError(f"`{name}` must hold integers ({dtype.name}); got "
                       f"dtype {array.dtype.name}.")
    info = np.iinfo(dtype)
    if array.size and (array.min() < info.min or array.max() > info.max):
      raise ValueError(
          f"`{name}` must be in [{info.min}, {info.max}] ({dtype.name}); got "
          f"values from {array.min()} to {array.max()}.")
  elif array.dtype.kind not in "iuf":
    raise ValueError(f"`{name}` must be numeric ({dtype.name}); got dtype "
                     f"{array.dtype.name}.")
  return array.astype(dtype)


def prepare_inputs(signature_name, inputs):
  """Checks the input names and casts each value to its signature dtype."""
  signature = _signature(signature_name)
  if set(inputs) != set(signature.inputs):
    raise ValueError(
        f"Signature {signature_name!r} takes inputs "
        f"{sorted(signature.inputs)}; got {sorted(inputs)}.")
  return {name: _as_input(inputs[name], dtype, name)
          for name, dtype in signature.inputs.items()}


def rest_request_body(signature_name, inputs, request_format="columnar"):
  """The JSON body (a `dict`) of a TF Serving REST `:predict` request.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    inputs: `dict` of input name to array-like.
    request_format: `"columnar"` (`{"inputs": {name: tensor}}`) or `"row"`
      (`{"instances": [example, ...]}`; for the signatures with one batched
      input: `serving_default`, `log_prob`, `encode` and `decode`).

  Returns:
    A `dict` ready for `json.dumps`.

  Raises:
    ValueError: unknown signature or format, missing or extra inputs,
      integer values that do not fit the input's dtype, or a row request
      for a signature with several inputs.
  """
  arrays = prepare_inputs(signature_name, inputs)
  body = {"signature_name": signature_name}
  if request_format == "columnar":
    body["inputs"] = {name: a.tolist() for name, a in arrays.items()}
  elif request_format == "row":
    if len(arrays) != 1 or next(iter(arrays.values())).ndim == 0:
      raise ValueError(
          "The row format is for signatures with one batched input; "
          f"{signature_name!r} takes {sorted(arrays)}. Use "
          "request_format='columnar'.")
    body["instances"] = next(iter(arrays.values())).tolist()
  else:
    raise ValueError("`request_format` must be 'columnar' or 'row'; got "
                     f"{request_format!r}.")
  return body


def parse_rest_response(signature_name, body):
  """The outputs of a REST `:predict` response, as arrays of their dtypes.

  Handles both response formats: `{"predictions": ...}` (row requests: one
  entry per example, an object per example when there are several outputs)
  and `{"outputs": ...}` (columnar requests). With a single output the
  server omits its name.

  Raises:
    PredictError: the body is an error (`{"error": message}`).
    ValueError: the body is neither format or lacks an output.
  """
  signature = _signature(signature_name)
  if "error" in body:
    raise PredictError(body["error"])
  names = list(signature.outputs)
  if "outputs" in body:
    outputs = body["outputs"]
    if len(names) == 1 and not isinstance(outputs, dict):
      outputs = {names[0]: outputs}
  elif "predictions" in body:
    rows = body["predictions"]
    if len(names) == 1:
      outputs = {names[0]: rows}
    else:
      outputs = {name: [row[name] for row in rows] for name in names}
  else:
    raise ValueError("A predict response holds 'outputs' or 'predictions'; "
                     f"got keys {sorted(body)}.")
  missing = set(names) - set(outputs)
  if missing:
    raise ValueError(f"The response lacks outputs {sorted(missing)}.")
  return {name: np.asarray(outputs[name], dtype=signature.outputs[name])
          for name in names}


class FlowClient:
  """One method per serving signature; subclasses implement `predict`."""

  def predict(self, signature_name, inputs):
    """Calls `signature_name`; returns `{output name: array}`."""
    raise NotImplementedError

  def bits_per_dim(self, images):
    """8-bit images -> `{"log_prob", "bits_per_dim"}` (`serving_default`)."""
    return self.predict("serving_default", {"images": images})

  def log_prob(self, images):
    """Dequantized pixels in `[0, 256)` -> log-density, shape `[batch]`."""
    return self.predict("log_prob", {"images": images})["log_prob"]

  def sample(self, num_samples, temperature=1.0, seed=(0, 0)):
    """Stateless samples -> `{"images": float32, "pixels": uint8}`."""
    return self.predict("sample", {"num_samples": num_samples,
                                   "temperature": temperature,
                                   "seed": seed})

  def encode(self, images):
    """Pixels -> latent code `z` of the same shape."""
    return self.predict("encode", {"images": images})["z"]

  def decode(self, z):
    """Latent code -> pixels."""
    return self.predict("decode", {"z": z})["images"]

  def interpolate(self, images_a, images_b, num_steps):
    """Pairs of images -> `[batch, num_steps, H, W, C]` along the latent path.
    """
    return self.predict("interpolate", {"images_a": images_a,
                                        "images_b": images_b,
                                        "num_steps": num_steps})["images"]


class RestClient(FlowClient):
  """Calls TF Serving's REST API (`tensorflow_model_server --rest_api_port`).

  Args:
    model_name: `--model_name` of the server.
    host: the server's host.
    port: its `--rest_api_port` (8501 in TF Serving's examples).
    version: a model version, or `None` for the newest.
    timeout: seconds per request.
    request_format: `"columnar"` or `"row"` (see `rest_request_body`); `row`
      falls back to columnar for `sample` and `interpolate`, whose several
      inputs include scalars.
  """

  def __init__(self, model_name, host="localhost", port=8501, version=None,
               timeout=60.0, request_format="columnar"):
    path = f"/v1/models/{model_name}"
    if version is not None:
      path += f"/versions/{int(version)}"
    self.url = f"http://{host}:{port}{path}:predict"
    self.timeout = timeout
    self.request_format = request_format

  def predict(self, signature_name, inputs):
    """One `:predict` call; returns `{output name: array}`."""
    request_format = self.request_format
    if len(_signature(signature_name).inputs) > 1:
      request_format = "columnar"
    body = rest_request_body(signature_name, inputs, request_format)
    request = urllib.request.Request(
        self.url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json"})
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        reply = json.loads(response.read())
    except urllib.error.HTTPError as err:
      text = err.read().decode("utf-8", "replace")
      try:
        message = json.loads(text)["error"]
      except (ValueError, KeyError, TypeError):
        message = text
      raise PredictError(f"HTTP {err.code} from {self.url}: {message}") \
          from None
    return parse_rest_response(signature_name, reply)
