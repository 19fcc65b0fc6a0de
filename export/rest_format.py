"""TF Serving's REST `:predict` bodies: requests to JSON, JSON to arrays.

The documented JSON formats (https://www.tensorflow.org/tfx/serving/api_rest):
a request is columnar (`{"inputs": {name: tensor}}`, for every signature) or
in rows (`{"instances": [example, ...]}`, for the signatures with a single
batched input); a response is `{"outputs": ...}` to a columnar request and
`{"predictions": [...]}` to a row request, with the output's name left out
when there is only one; an error is `{"error": message}`.

#### Examples

```python
rest_request_body("serving_default", {"images": uint8_images}, "row")
# {"signature_name": "serving_default", "instances": [[[[0], ...]]]}
parse_rest_response("log_prob", {"outputs": [-1.0, -2.0]})
# {"log_prob": array([-1., -2.], dtype=float32)}
```
"""

import json
import re

import numpy as np

from . import contract
from .client_checks import cast_float
from .client_checks import check_outputs
from .client_checks import collect_outputs
from .client_checks import conditional_request
from .client_checks import kind_name
from .client_checks import outside_integer_range
from .client_checks import prepare_inputs
from .client_checks import quote_names
from .errors import PredictError
from .errors import invalid_response_prefix

__all__ = ["error_message", "parse_rest_response", "read_json",
           "request_body", "response_outputs", "rest_request_body",
           "snippet"]

_SNIPPET_CHARS = 200


def snippet(text):
  """The start of a body, as one line: an HTML page's text without tags.

  Args:
    text: `str` or `bytes` (decoded as UTF-8).

  Returns:
    The `repr` of at most 200 characters and `"..."`.
  """
  if isinstance(text, bytes):
    text = text.decode("utf-8", "replace")
  if re.search(r"<\s*(!doctype|html|head|body)\b", text[:1000], re.I):
    text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<[^>]*>", " ", text)
  text = " ".join(text.split())
  if len(text) > _SNIPPET_CHARS:
    text = text[:_SNIPPET_CHARS] + "..."
  return repr(text)


def _body_kind(content_type):
  return "an HTML page" if "html" in content_type.lower() else None


def request_body(signature_name, arrays, request_format):
  """`rest_request_body` of inputs already checked by `prepare_inputs`."""
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
      with several inputs, or bad inputs (see
      `client_checks.prepare_inputs`).
    TypeError: inputs that are not numbers (see
      `client_checks.prepare_inputs`).
  """
  return request_body(signature_name, prepare_inputs(signature_name, inputs),
                      request_format)


def read_json(status, content_type, data, url):
  """The decoded JSON of a response body.

  Args:
    status: the HTTP status.
    content_type: the `Content-Type` header.
    data: the body, `bytes`.
    url: the request's URL, for messages.

  Returns:
    The decoded JSON value.

  Raises:
    PredictError: the body is not JSON (an HTML page, a truncated object,
      arrays nested beyond Python's recursion limit).
  """
  try:
    return json.loads(data)
  except (ValueError, RecursionError) as err:
    kind = _body_kind(content_type) or f"not JSON ({err})"
    raise PredictError(
        f"Invalid response from {url}: HTTP {status} with a body that is "
        f"{kind}: {snippet(data)}.") from None


def error_message(reason, content_type, data):
  """The message of an HTTP error response.

  Args:
    reason: the HTTP reason phrase (`"Bad Gateway"`).
    content_type: the `Content-Type` header.
    data: the body, `bytes`.

  Returns:
    TF Serving's message (`{"error": message}`), else the reason and the
    start of the body.
  """
  try:
    return str(json.loads(data)["error"])
  except (ValueError, KeyError, TypeError, IndexError):
    kind = _body_kind(content_type) or "a body"
    return f"{reason}; not a TF Serving error but {kind}: {snippet(data)}"


def _object_values(array):
  """What an object array of JSON values holds that is not a number."""
  if any(v is None for v in array.flat):
    return "null values"
  for v in array.flat:
    if isinstance(v, (bool, str, dict)):
      return {bool: "booleans", str: "strings", dict: "objects"}[type(v)]
    if isinstance(v, int) and not -2**63 <= v < 2**64:
      return "integers beyond 64 bits"
  return "non-numeric values"


def _json_array(value, dtype, what):
  """A JSON value as an array of `dtype`; raises `PredictError` naming
  `what` (`"... output `x`"`) unless it is a rectangular array of numbers
  (booleans for a bool output) that fit."""
  dtype = np.dtype(dtype)
  try:
    array = np.asarray(value)
  except (ValueError, TypeError) as err:
    shape = ("a ragged list (its rows differ in length)"
             if "inhomogeneous" in str(err) else f"not an array ({err})")
    raise PredictError(f"{what} is {shape}.") from None
  if array.dtype == object:
    raise PredictError(f"{what} holds {_object_values(array)}.")
  if dtype == np.bool_:
    if array.dtype.kind != "b":
      raise PredictError(f"{what} holds {kind_name(array)}, not booleans.")
    return array
  integer = np.issubdtype(dtype, np.integer)
  if array.dtype.kind not in ("iu" if integer else "iuf"):
    kind = kind_name(array, f"values of dtype {array.dtype.name}")
    if array.dtype.kind == "f":
      kind = ("non-integers" if np.all(np.isfinite(array)) else
              "NaN or inf")
    raise PredictError(f"{what} holds {kind}, not {dtype.name} values.")
  if any(isinstance(v, bool) for v in np.asarray(value, dtype=object).flat):
    # NumPy reads booleans among numbers as 0 and 1.
    raise PredictError(f"{what} holds booleans among its numbers.")
  if integer:
    if outside_integer_range(array, dtype):
      raise PredictError(f"{what} holds values from {array.min()} to "
                         f"{array.max()}, outside {dtype.name}.")
    return array.astype(dtype)
  cast, overflowed = cast_float(array, dtype)
  if overflowed:
    raise PredictError(f"{what} holds values beyond the {dtype.name} range.")
  return cast


def response_outputs(signature_name, body, url=None, conditional=False):
  """The outputs of a decoded `:predict` response, of unchecked shapes.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    body: the decoded JSON body.
    url: the server's URL, for messages.
    conditional: Python `bool`, whether the request was for a
      class-conditional model (`contract.is_conditional_request`).

  Returns:
    `{output name: np.ndarray}` of the signature's dtypes.

  Raises:
    PredictError: see `parse_rest_response`.
  """
  names = list(contract.signature(signature_name, conditional).outputs)
  source = url or "the server"
  where = invalid_response_prefix(source, signature_name)
  if not isinstance(body, dict):
    raise PredictError(f"{where} a predict response is a JSON object; got "
                       f"{type(body).__name__} {snippet(json.dumps(body))}.")
  if "error" in body:
    raise PredictError(f"Error from {source}: {body['error']}" if url else
                       str(body["error"]))
  if "outputs" in body:
    outputs = body["outputs"]
    if len(names) == 1 and not isinstance(outputs, dict):
      outputs = {names[0]: outputs}
    elif not isinstance(outputs, dict):
      raise PredictError(
          f"{where} 'outputs' must be an object of the outputs "
          f"{quote_names(names)}; got {type(outputs).__name__}.")
  elif "predictions" in body:
    rows = body["predictions"]
    if not isinstance(rows, list):
      raise PredictError(f"{where} 'predictions' must be a list (one entry "
                         f"per example); got {type(rows).__name__}.")
    if len(names) == 1:
      outputs = {names[0]: rows}
    else:
      for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(names) != set(row):
          got = (f"keys {sorted(row)}" if isinstance(row, dict) else
                 type(row).__name__)
          raise PredictError(
              f"{where} 'predictions' row {i} must be an object of the "
              f"outputs {quote_names(names)}; got {got}.")
      outputs = {name: [row[name] for row in rows] for name in names}
  else:
    raise PredictError(f"{where} a predict response holds 'outputs' or "
                       f"'predictions'; got keys {sorted(body)}.")
  return collect_outputs(signature_name, outputs, _json_array, source,
                         conditional)


def parse_rest_response(signature_name, body, inputs=None, url=None,
                        conditional=None):
  """The outputs of a REST `:predict` response, as arrays of their dtypes.

  Handles both response formats: `{"predictions": ...}` (row requests: one
  entry per example, an object per example when there are several outputs)
  and `{"outputs": ...}` (columnar requests). With a single output the
  server omits its name. The outputs are checked by
  `client_checks.check_outputs`.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    body: the decoded JSON body.
    inputs: the request (from `client_checks.prepare_inputs`), to check the
      output shapes against, or `None`.
    url: the server's URL, for messages.
    conditional: whether the request was for a class-conditional model;
      `None`: whether `inputs` hold `labels`.

  Returns:
    `{output name: np.ndarray}` of the signature's dtypes.

  Raises:
    PredictError: the body is an error (`{"error": message}`), is not in
      either format, lacks an output, or holds an output that is not an
      array of numbers of the expected shape.
  """
  conditional = conditional_request(inputs, conditional)
  return check_outputs(signature_name,
                       response_outputs(signature_name, body, url,
                                        conditional), inputs,
                       url or "the server", conditional)
