"""Clients for a flow served by TF Serving: REST here, gRPC in `grpc_client`.

Both clients send the inputs named in `export.contract.SIGNATURES`, cast to
the signature's dtypes, and return each output as a NumPy array with the
signature's dtype:

```python
client = RestClient("mnist", port=8501)   # or grpc_client.GrpcClient("mnist")
bpd = client.bits_per_dim(uint8_images)          # serving_default
out = client.sample(16, temperature=0.7, seed=(1, 2))
out["pixels"]                                    # uint8 [16, 28, 28, 1]
# A class-conditional model (`export.contract.CONDITIONAL_SIGNATURES`):
out = client.sample(labels=[0, 1, 2], guidance=1.0, seed=(1, 2))
log_probs, label = client.classify(uint8_images)
```

Errors:

* a bad argument raises `ValueError` (a wrong shape, a value that does not
  fit the input's dtype, unknown inputs) or `TypeError` (values that are not
  numbers: booleans, strings, `None`) before any request is sent. The
  shapes are those of `export.contract`: `[n, H, W, C]` batches with
  `n >= 1`, scalar counts, a `[2]` seed, one label per image; the model's
  own `H, W, C` and the value ranges (`num_samples`, `temperature`,
  `labels`, ...) are checked by the server, and so is whether the model is
  class-conditional (a request with `labels` is for one).
* anything else raises `PredictError`, whose message names the server (its
  URL or gRPC target) and what was wrong: a request the server refuses (with
  the server's message), no connection or no answer in time, and a response
  that is not a valid answer to the request: not JSON, truncated, larger
  than `max_response_bytes`, an HTML error page, `null`s or other
  non-numbers, NaN or inf (the JSON tokens `NaN`, `Infinity`, `-Infinity`)
  in an output the contract says is finite, missing or unknown outputs, or
  outputs of another dtype or shape than the request implies (`[n]` for a
  batch of `n` images, `[num_samples, H, W, C]` with the `H, W, C` of the
  other outputs, ...). So `is_outlier` is never returned beside a NaN
  score.

Both are `flow_client.FlowClient`s, which check the inputs and outputs; the
REST bodies follow TF Serving's documented JSON formats (`rest_format`).
This module also gives the REST functions and the checks their public
import path.
"""

import http.client
import json
import urllib.error
import urllib.request

from . import rest_format
from .client_checks import check_outputs
from .client_checks import conditional_request
from .client_checks import prepare_inputs
from .contract import CONDITIONAL_SIGNATURES
from .contract import SIGNATURES
from .errors import PredictError
from .flow_client import DEFAULT_MAX_RESPONSE_BYTES
from .flow_client import FlowClient
from .rest_format import parse_rest_response
from .rest_format import rest_request_body

__all__ = ["CONDITIONAL_SIGNATURES", "FlowClient", "PredictError",
           "RestClient", "SIGNATURES", "check_outputs", "parse_rest_response",
           "prepare_inputs", "rest_request_body"]


class RestClient(FlowClient):
  """Calls TF Serving's REST API (`tensorflow_model_server --rest_api_port`).

  Args:
    model_name: `--model_name` of the server.
    host: the server's host.
    port: its `--rest_api_port` (8501 in TF Serving's examples).
    version: a model version, or `None` for the newest.
    timeout: seconds per request.
    request_format: `"columnar"` or `"row"` (see
      `rest_format.rest_request_body`); `row` falls back to columnar for
      a request of several inputs (`sample`, `interpolate`, and every
      request with `labels`).
    max_response_bytes: the largest body to read (`flow_client.FlowClient`).

  A call raises `PredictError` naming `url` for an HTTP error status (with
  TF Serving's message, or the start of the body), no connection, no answer
  within `timeout`, or a body that is truncated, too large or not a valid
  response.
  """

  def __init__(self, model_name, host="localhost", port=8501, version=None,
               timeout=60.0, request_format="columnar",
               max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES):
    super().__init__(model_name, version, timeout, max_response_bytes)
    path = f"/v1/models/{model_name}"
    if self.version is not None:
      path += f"/versions/{self.version}"
    self.url = f"http://{host}:{port}{path}:predict"
    self.request_format = request_format

  @property
  def source(self):
    """`url`."""
    return self.url

  def _send(self, signature_name, arrays):
    request_format = self.request_format
    if len(arrays) > 1:
      request_format = "columnar"
    body = rest_format.request_body(signature_name, arrays, request_format)
    request = urllib.request.Request(
        self.url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json"})
    reply = rest_format.read_json(*self._post(request), self.url)
    return rest_format.response_outputs(signature_name, reply, self.url,
                                        conditional_request(arrays))

  def _post(self, request):
    """Sends `request`; returns `(status, content type, body bytes)`.

    Raises:
      PredictError: for an HTTP error status (with the server's message),
        no connection, a timeout, or a body that is truncated or larger than
        `max_response_bytes`.
    """
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        return (response.status, response.headers.get("Content-Type", ""),
                self._read(response))
    except urllib.error.HTTPError as err:
      raise self._refused(
          f"HTTP {err.code}",
          _http_error_message(err, self.max_response_bytes)) from None
    except urllib.error.URLError as err:
      raise PredictError(self._failure(err.reason)) from None
    except (OSError, http.client.HTTPException) as err:
      raise PredictError(self._failure(err)) from None

  def _read(self, response):
    """The body of `response`, unless it is larger than
    `max_response_bytes` (announced, or read so far)."""
    limit = self.max_response_bytes
    announced = response.length    # Content-Length, or None if chunked
    if announced is None:
      data = response.read(limit + 1)
    elif announced <= limit:
      data = response.read()       # raises IncompleteRead if truncated
    else:
      data = b""
    if (announced is not None and announced > limit) or len(data) > limit:
      size = (f"announces {announced} bytes" if announced is not None else
              f"holds more than {limit} bytes")
      raise PredictError(
          f"Response from {self.url} {size}, more than max_response_bytes="
          f"{limit}; it was not read. Raise `max_response_bytes` for larger "
          "answers, or request fewer images.")
    return data

  def _failure(self, err):
    """The message of a request that got no complete answer."""
    if isinstance(err, TimeoutError):
      return f"No answer from {self.url} within {self.timeout} s ({err})."
    if isinstance(err, http.client.IncompleteRead):
      return (f"Truncated response from {self.url}: the connection closed "
              f"after {len(err.partial)} bytes of the body, "
              f"{err.expected} more were announced.")
    if isinstance(err, ConnectionRefusedError):
      return f"Cannot connect to {self.url}: connection refused ({err})."
    return f"Request to {self.url} failed: {type(err).__name__}: {err}"


def _http_error_message(err, limit):
  """The message of an `HTTPError`: TF Serving's `{"error": ...}`, else the
  reason and the start of the body; at most `limit` bytes are read."""
  try:
    data = err.read(limit)
  except (OSError, http.client.HTTPException) as read_error:
    return f"{err.reason} (the body could not be read: {read_error})"
  content_type = err.headers.get("Content-Type", "") if err.headers else ""
  return rest_format.error_message(err.reason, content_type, data)
