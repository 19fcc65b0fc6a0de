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

Errors:

* a bad argument raises `ValueError` (a wrong shape, a value that does not
  fit the input's dtype, unknown inputs) or `TypeError` (values that are not
  numbers: booleans, strings, `None`) before any request is sent. The
  shapes are those of `export.contract`: `[n, H, W, C]` batches with
  `n >= 1`, scalar counts, a `[2]` seed; the model's own `H, W, C` and the
  value ranges (`num_samples`, `temperature`, ...) are checked by the server.
* anything else raises `PredictError`, whose message names the server (its
  URL or gRPC target) and what was wrong: a request the server refuses (with
  the server's message), no connection or no answer in time, and a response
  that is not a valid answer to the request: not JSON, truncated, an HTML
  error page, `null`s or other non-numbers, missing outputs, or outputs of
  another dtype or shape than the request implies (`[n]` for a batch of `n`
  images, `[num_samples, H, W, C]` with the `H, W, C` of the other outputs,
  ...).

REST bodies follow TF Serving's documented JSON formats
(https://www.tensorflow.org/tfx/serving/api_rest): the columnar format
(`{"inputs": {...}}`, the default, for every signature) or the row format
(`{"instances": [...]}`, one entry per example, for the signatures with a
single batched input).
"""

import http.client
import json
import re
import urllib.error
import urllib.request

import numpy as np

from .contract import SIGNATURES

__all__ = ["FlowClient", "PredictError", "RestClient", "check_outputs",
           "parse_rest_response", "prepare_inputs", "rest_request_body"]

_SNIPPET_CHARS = 200
# NumPy dtype kinds that are not numbers, for messages.
_KINDS = {"b": "booleans", "U": "strings", "S": "bytes",
          "c": "complex numbers", "O": "non-numbers such as None",
          "M": "datetimes", "m": "timedeltas"}


class PredictError(RuntimeError):
  """A call failed at or beyond the server: it refused the request, could
  not be reached, or answered with something that is not a valid response.
  The message names the server and, for a refusal, holds its message."""


def _signature(name):
  if name not in SIGNATURES:
    raise ValueError(f"`signature_name` must be one of {list(SIGNATURES)}; "
                     f"got {name!r}.")
  return SIGNATURES[name]


def _shape_text(pattern):
  """`("n", "H", 2)` -> `"[n, H, 2]"`; `()` -> `"[] (a scalar)"`."""
  if not pattern:
    return "[] (a scalar)"
  return "[" + ", ".join(map(str, pattern)) + "]"


def _match_shape(pattern, shape, dims, owner):
  """Checks `shape` against a contract shape, binding its named sizes.

  Args:
    pattern: a shape of `export.contract` (ints and names).
    shape: the received shape (a tuple of ints).
    dims: `{name: (size, owner)}` of the sizes bound so far in this call;
      updated with the names `pattern` binds.
    owner: how to name the tensor in later messages (`"`images`"`).

  Returns:
    `None`, or what is wrong, as a phrase that follows the tensor's name.
  """
  text = _shape_text(pattern)
  got = f"got shape {list(shape)}"
  if not pattern and shape:
    return f"must be a scalar; {got}"
  if len(shape) != len(pattern):
    return f"must have shape {text} (rank {len(pattern)}); {got}"
  for dim, size in zip(pattern, shape):
    if isinstance(dim, int):
      if size != dim:
        return f"must have shape {text}; {got}"
    elif dim in dims:
      bound, source = dims[dim]
      if size != bound:
        return (f"must have shape {text} with {dim} = {bound} (from "
                f"{source}); {got}")
    elif size < 1:
      return f"must have shape {text} with {dim} >= 1; {got}"
    else:
      dims[dim] = (size, owner)
  return None


def _check_integer_range(array, dtype, name):
  """Raises `ValueError` unless every value of `array` fits `dtype` exactly.
  """
  info = np.iinfo(dtype)
  if array.dtype.kind == "f":
    # Powers of two: exact in floating point, unlike `info.max`.
    too_big = array >= float(info.max + 1)
    too_small = array < float(info.min)
  else:
    too_big = array > info.max
    too_small = array < info.min
  if np.any(too_big | too_small):
    raise ValueError(
        f"`{name}` must be in [{info.min}, {info.max}] ({dtype.name}); got "
        f"values from {array.min()} to {array.max()}.")


def _as_input(value, dtype, name):
  """`value` as an array of `dtype`, or an error naming `name`.

  Integers must fit without wrapping (floats are accepted when they hold
  integers); floats must fit float32.

  Raises:
    TypeError: for values that are not numbers (booleans, strings, `None`).
    ValueError: for ragged lists, non-integers or values out of range.
  """
  dtype = np.dtype(dtype)
  try:
    array = np.asarray(value)
  except (ValueError, TypeError) as err:
    raise ValueError(f"`{name}` must be an array of numbers; got a ragged or "
                     f"mixed {type(value).__name__} ({err}).") from None
  integer = np.issubdtype(dtype, np.integer)
  if integer and array.dtype.kind in "fO" and not isinstance(
      value, np.ndarray):
    # NumPy turns Python ints beyond int64 into floats or objects.
    ints = [v for v in np.asarray(value, dtype=object).flat
            if type(v) is int]  # pylint: disable=unidiomatic-typecheck
    info = np.iinfo(dtype)
    if ints and (min(ints) < info.min or max(ints) > info.max):
      raise ValueError(f"`{name}` must be in [{info.min}, {info.max}] "
                       f"({dtype.name}); got values from {min(ints)} to "
                       f"{max(ints)}.")
  if array.dtype.kind not in "iuf":
    raise TypeError(f"`{name}` must hold numbers ({dtype.name}); got "
                    f"{_KINDS.get(array.dtype.kind, array.dtype.name)}.")
  if integer:
    if array.dtype.kind == "f" and not (
        np.all(np.isfinite(array)) and np.all(array == np.round(array))):
      raise ValueError(f"`{name}` must hold integers ({dtype.name}); got "
                       f"dtype {array.dtype.name} with non-integer values.")
    _check_integer_range(array, dtype, name)
  else:
    finite = np.isfinite(array)
    with np.errstate(over="ignore"):
      cast = array.astype(dtype)
    if np.any(finite & ~np.isfinite(cast)):
      raise ValueError(f"`{name}` must fit {dtype.name}; got values up to "
                       f"{np.max(np.abs(array[finite]))}.")
    return cast
  return array.astype(dtype)


def _input_dims(signature, arrays):
  """The named sizes a request binds: `{name: (size, owner)}`.

  Raises:
    ValueError: for an input of another shape than the contract's.
  """
  dims = {}
  for name, pattern in signature.input_shapes.items():
    problem = _match_shape(pattern, arrays[name].shape, dims, f"`{name}`")
    if problem:
      raise ValueError(f"`{name}` {problem}.")
  for name, array in arrays.items():
    if array.ndim == 0 and any(name in shape for shape in
                               signature.output_shapes.values()):
      dims[name] = (int(array), f"`{name}`")
  return dims


def prepare_inputs(signature_name, inputs):
  """Checks a request's inputs and casts each to its signature dtype.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    inputs: `dict` of input name to array-like.

  Returns:
    `{input name: np.ndarray}` of the signature's dtypes.

  Raises:
    ValueError: unknown signature, missing or extra inputs, shapes other
      than the contract's (an unbatched image, an empty batch, a non-scalar
      count, batches of different sizes), ragged lists, non-integers for an
      integer input or values that do not fit the input's dtype.
    TypeError: values that are not numbers (booleans, strings, `None`).
  """
  signature = _signature(signature_name)
  if not isinstance(inputs, dict):
    raise TypeError(f"`inputs` must be a dict of input name to array; got "
                    f"{type(inputs).__name__}.")
  if set(inputs) != set(signature.inputs):
    raise ValueError(
        f"Signature {signature_name!r} takes inputs "
        f"{sorted(signature.inputs)}; got {sorted(inputs)}.")
  arrays = {name: _as_input(inputs[name], dtype, name)
            for name, dtype in signature.inputs.items()}
  _input_dims(signature, arrays)
  return arrays


def check_outputs(signature_name, outputs, inputs=None, source="the server"):
  """Checks a response's output shapes against the contract and the request.

  The shapes of `export.contract.SIGNATURES`: with `inputs`, the sizes they
  bind (`n` of `[n, H, W, C]` images, `num_samples`, `num_steps`) must be
  the outputs' sizes too; without, each output must have the contract's
  rank and the outputs must agree with each other (`images` and `pixels`
  of the same shape, ...).

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    outputs: `{output name: np.ndarray}`, every output of the signature.
    inputs: the request, as returned by `prepare_inputs`, or `None`.
    source: names the server in messages (its URL or gRPC target).

  Returns:
    `outputs`.

  Raises:
    PredictError: for an output of another shape.
  """
  signature = _signature(signature_name)
  dims = {} if inputs is None else _input_dims(signature, inputs)
  for name, pattern in signature.output_shapes.items():
    problem = _match_shape(pattern, np.shape(outputs[name]), dims,
                           f"output `{name}`")
    if problem:
      raise PredictError(f"Invalid response from {source} for "
                         f"{signature_name!r}: output `{name}` {problem}.")
  return outputs


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
    ValueError: unknown signature or format, a row request for a signature
      with several inputs, or bad inputs (see `prepare_inputs`).
    TypeError: inputs that are not numbers (see `prepare_inputs`).
  """
  return _request_body(signature_name, prepare_inputs(signature_name, inputs),
                       request_format)


def _request_body(signature_name, arrays, request_format):
  """`rest_request_body` of inputs checked by `prepare_inputs`."""
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


def _json_array(value, dtype, what):
  """A JSON value as an array of `dtype`; raises `PredictError` naming
  `what` (`"... output `x`"`) unless it is a rectangular array of numbers
  that fit."""
  dtype = np.dtype(dtype)
  try:
    array = np.asarray(value)
  except (ValueError, TypeError):
    raise PredictError(f"{what} is a ragged list (its rows differ in "
                       "length).") from None
  if array.dtype == object:
    nulls = any(v is None for v in array.flat)
    raise PredictError(f"{what} holds {'null' if nulls else 'non-numeric'} "
                       "values.")
  if dtype == np.bool_:
    if array.dtype.kind != "b":
      raise PredictError(f"{what} holds "
                         f"{_KINDS.get(array.dtype.kind, array.dtype.name)}"
                         ", not booleans.")
    return array
  integer = np.issubdtype(dtype, np.integer)
  if array.dtype.kind not in ("iu" if integer else "iuf"):
    kind = "non-integers" if array.dtype.kind == "f" else _KINDS.get(
        array.dtype.kind, f"values of dtype {array.dtype.name}")
    raise PredictError(f"{what} holds {kind}, not {dtype.name} values.")
  if integer:
    info = np.iinfo(dtype)
    if array.size and (array.min() < info.min or array.max() > info.max):
      raise PredictError(f"{what} holds values from {array.min()} to "
                         f"{array.max()}, outside {dtype.name}.")
    return array.astype(dtype)
  with np.errstate(over="ignore"):
    cast = array.astype(dtype)
  if np.any(np.isfinite(array) & ~np.isfinite(cast)):
    raise PredictError(f"{what} holds values beyond the {dtype.name} range.")
  return cast


def _names(names):
  return ", ".join(f"`{n}`" for n in names)


def parse_rest_response(signature_name, body, inputs=None, url=None):
  """The outputs of a REST `:predict` response, as arrays of their dtypes.

  Handles both response formats: `{"predictions": ...}` (row requests: one
  entry per example, an object per example when there are several outputs)
  and `{"outputs": ...}` (columnar requests). With a single output the
  server omits its name. The outputs are checked by `check_outputs`.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    body: the decoded JSON body.
    inputs: the request (from `prepare_inputs`), to check the output shapes
      against, or `None`.
    url: the server's URL, for messages.

  Returns:
    `{output name: np.ndarray}` of the signature's dtypes.

  Raises:
    PredictError: the body is an error (`{"error": message}`), is not in
      either format, lacks an output, or holds an output that is not an
      array of numbers of the expected shape.
  """
  signature = _signature(signature_name)
  source = url or "the server"
  where = f"Invalid response from {source} for {signature_name!r}:"
  if not isinstance(body, dict):
    raise PredictError(f"{where} a predict response is a JSON object; got "
                       f"{type(body).__name__} {_snippet(json.dumps(body))}.")
  if "error" in body:
    raise PredictError(f"Error from {source}: {body['error']}" if url else
                       str(body["error"]))
  names = list(signature.outputs)
  if "outputs" in body:
    outputs = body["outputs"]
    if len(names) == 1 and not isinstance(outputs, dict):
      outputs = {names[0]: outputs}
    elif not isinstance(outputs, dict):
      raise PredictError(
          f"{where} 'outputs' must be an object of the outputs "
          f"{_names(names)}; got {type(outputs).__name__}.")
  elif "predictions" in body:
    rows = body["predictions"]
    if not isinstance(rows, list):
      raise PredictError(f"{where} 'predictions' must be a list (one entry "
                         f"per example); got {type(rows).__name__}.")
    if len(names) == 1:
      outputs = {names[0]: rows}
    else:
      for i, row in enumerate(rows):
        if not isinstance(row, dict) or not set(names) <= set(row):
          got = (f"keys {sorted(row)}" if isinstance(row, dict) else
                 type(row).__name__)
          raise PredictError(
              f"{where} 'predictions' row {i} must be an object of the "
              f"outputs {_names(names)}; got {got}.")
      outputs = {name: [row[name] for row in rows] for name in names}
  else:
    raise PredictError(f"{where} a predict response holds 'outputs' or "
                       f"'predictions'; got keys {sorted(body)}.")
  missing = [name for name in names if name not in outputs]
  if missing:
    raise PredictError(f"{where} it lacks outputs {_names(missing)}; got "
                       f"{sorted(outputs)}.")
  arrays = {name: _json_array(outputs[name], dtype,
                              f"{where} output `{name}`")
            for name, dtype in signature.outputs.items()}
  return check_outputs(signature_name, arrays, inputs, source)


def _snippet(text):
  """The start of a body, as one line: an HTML page's text without tags."""
  if isinstance(text, bytes):
    text = text.decode("utf-8", "replace")
  if re.search(r"<\s*(!doctype|html|head|body)\b", text[:1000], re.I):
    text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<[^>]*>", " ", text)
  text = " ".join(text.split())
  if len(text) > _SNIPPET_CHARS:
    text = text[:_SNIPPET_CHARS] + "..."
  return repr(text)


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

  def score(self, images):
    """8-bit images -> out-of-distribution scores (`score` signature):
    `{"bits_per_dim", "complexity_bits_per_dim", "ood_score",
    "typicality"}` float32 `[n]` and `"is_outlier"` bool `[n]`."""
    return self.predict("score", {"images": images})


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
    """One `:predict` call.

    Args:
      signature_name: a name of `export.contract.SIGNATURES`.
      inputs: `dict` of input name to array-like.

    Returns:
      `{output name: np.ndarray}` of the signature's dtypes.

    Raises:
      ValueError, TypeError: bad inputs (see `prepare_inputs`); nothing is
        sent.
      PredictError: the server refused the request, could not be reached
        or did not answer within `timeout`, or its answer is not a valid
        response to the request; the message names `url`.
    """
    request_format = self.request_format
    if len(_signature(signature_name).inputs) > 1:
      request_format = "columnar"
    arrays = prepare_inputs(signature_name, inputs)
    body = _request_body(signature_name, arrays, request_format)
    request = urllib.request.Request(
        self.url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json"})
    status, content_type, data = self._post(request)
    try:
      reply = json.loads(data)
    except ValueError as err:
      kind = "an HTML page" if "html" in content_type.lower() else (
          f"not JSON ({err})")
      raise PredictError(
          f"Invalid response from {self.url}: HTTP {status} with a body that "
          f"is {kind}: {_snippet(data)}.") from None
    return parse_rest_response(signature_name, reply, arrays, self.url)

  def _post(self, request):
    """Sends `request`; returns `(status, content type, body bytes)`.

    Raises:
      PredictError: for an HTTP error status (with the server's message),
        no connection, a timeout or a truncated body.
    """
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        return (response.status, response.headers.get("Content-Type", ""),
                response.read())
    except urllib.error.HTTPError as err:
      raise PredictError(f"HTTP {err.code} from {self.url}: "
                         f"{_http_error_message(err)}") from None
    except urllib.error.URLError as err:
      raise PredictError(self._failure(err.reason)) from None
    except (OSError, http.client.HTTPException) as err:
      raise PredictError(self._failure(err)) from None

  def _failure(self, err):
    if isinstance(err, TimeoutError):
      return f"No answer from {self.url} within {self.timeout} s ({err})."
    if isinstance(err, http.client.IncompleteRead):
      return (f"Truncated response from {self.url}: the connection closed "
              f"after {len(err.partial)} bytes of the body, "
              f"{err.expected} more were announced.")
    if isinstance(err, ConnectionRefusedError):
      return f"Cannot connect to {self.url}: connection refused ({err})."
    return f"Request to {self.url} failed: {type(err).__name__}: {err}"


def _http_error_message(err):
  """The message of an HTTP error response: TF Serving's `{"error": ...}`,
  else the start of the body."""
  try:
    text = err.read()
  except (OSError, http.client.HTTPException) as read_error:
    return f"{err.reason} (the body could not be read: {read_error})"
  try:
    message = json.loads(text)["error"]
  except (ValueError, KeyError, TypeError, IndexError):
    content_type = err.headers.get("Content-Type", "") if err.headers else ""
    kind = "an HTML page" if "html" in content_type.lower() else "a body"
    return f"{err.reason}; not a TF Serving error but {kind}: {_snippet(text)}"
  return str(message)
