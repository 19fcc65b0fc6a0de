"""`FlowClient`: a client of the serving signatures, whatever the transport.

`predict` checks a call's inputs against `export.contract` and casts them
(`client_checks.prepare_inputs`; nothing is sent for a bad argument), has the
transport send them and turn its response into arrays (`_send`), and checks
the outputs' shapes against the request (`client_checks.check_outputs`). The
other public methods call one signature each. `export.client.RestClient` and
`export.grpc_client.GrpcClient` implement `source` and `_send` only.

#### Examples

```python
client = RestClient("mnist", port=8501)      # a FlowClient
out = client.sample(16, temperature=0.7, seed=(1, 2))
out["pixels"]                                # uint8 [16, 28, 28, 1]
client.predict("encode", {"images": x})      # {"z": float32 [n, H, W, C]}
# A class-conditional model: one sample per label, and its classifier.
digits = client.sample(labels=[3, 3, 7], guidance=1.0, seed=(1, 2))
log_probs, label = client.classify(uint8_images)   # [n, K], [n]
```

A request with `labels` calls a class-conditional model's signature
(`export.contract.CONDITIONAL_SIGNATURES`); one without, an unconditional
model's. The client does not ask the server which the model is: a request
of the other kind is refused by the server (a `PredictError` naming the
missing or extra input).
"""

import math

import numpy as np

from .client_checks import check_outputs
from .client_checks import prepare_inputs
from .errors import PredictError

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "FlowClient"]

# The largest response a client reads by default: 256 MiB, beyond the
# answers of the presets' largest requests (JSON spends about 10 bytes per
# float, gRPC 4).
DEFAULT_MAX_RESPONSE_BYTES = 2**28


def _is_int(value):
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class FlowClient:
  """One method per serving signature; subclasses send the requests.

  Args:
    model_name: `--model_name` of the server.
    version: a model version (an `int >= 0`), or `None` for the newest.
    timeout: seconds per request, a number > 0.
    max_response_bytes: the largest response to read, an `int >= 1`; a
      larger one is a `PredictError` (REST: its body is not read; gRPC:
      the channel's `grpc.max_receive_message_length`).

  Raises:
    ValueError: for a bad `version`, `timeout` or `max_response_bytes`.
  """

  def __init__(self, model_name, version=None, timeout=60.0,
               max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES):
    if version is not None and not (_is_int(version) and version >= 0):
      raise ValueError("`version` must be an int >= 0 or None; got "
                       f"{version!r}.")
    if not (_is_int(timeout) or isinstance(timeout, float)) or not (
        0 < timeout < math.inf):
      raise ValueError("`timeout` must be a finite number of seconds > 0; "
                       f"got {timeout!r}.")
    if not _is_int(max_response_bytes) or max_response_bytes < 1:
      raise ValueError("`max_response_bytes` must be an int >= 1; got "
                       f"{max_response_bytes!r}.")
    self.model_name = model_name
    self.version = None if version is None else int(version)
    self.timeout = timeout
    self.max_response_bytes = int(max_response_bytes)

  @property
  def source(self):
    """The server, as messages name it: its URL or gRPC target."""
    raise NotImplementedError

  def _send(self, signature_name, arrays):
    """Sends a checked request; the response's outputs as arrays.

    Args:
      signature_name: a name of `export.contract.SIGNATURES`.
      arrays: `{input name: np.ndarray}` from `prepare_inputs`.

    Returns:
      `{output name: np.ndarray}` of the signature's dtypes, every output
      (`client_checks.collect_outputs`); `predict` checks their shapes.

    Raises:
      PredictError: the server refused the request, could not be reached or
        did not answer within `timeout`, or its answer is not a response.
    """
    raise NotImplementedError

  def _refused(self, status, message):
    """The `PredictError` of a request the server refused with `status`."""
    return PredictError(f"{status} from {self.source}: {message}")

  def predict(self, signature_name, inputs):
    """Calls the signature `signature_name`.

    Args:
      signature_name: a name of `export.contract.SIGNATURES`.
      inputs: `dict` of input name to array-like.

    Returns:
      `{output name: np.ndarray}` of the signature's dtypes.

    Raises:
      ValueError, TypeError: bad inputs (see
        `client_checks.prepare_inputs`); nothing is sent.
      PredictError: the server refused the request (with the server's
        message), could not be reached or did not answer within `timeout`,
        or its answer is not a valid response to the request; the message
        names `source`.
    """
    arrays = prepare_inputs(signature_name, inputs)
    outputs = self._send(signature_name, arrays)
    return check_outputs(signature_name, outputs, arrays, self.source)

  def bits_per_dim(self, images, labels=None):
    """8-bit images -> `{"log_prob", "bits_per_dim"}` (`serving_default`).

    A class-conditional model takes `labels` (one per image) and also
    returns `"marginal_log_prob"` and `"marginal_bits_per_dim"`.
    """
    return self.predict("serving_default", _with_labels({"images": images},
                                                        labels))

  def log_prob(self, images, labels=None):
    """Dequantized pixels in `[0, 256)` -> log-density, shape `[batch]`.

    With `labels` (a class-conditional model): `log p(x | y)`; the
    `log_prob` signature's `marginal_log_prob` is `predict`'s.
    """
    return self.predict("log_prob", _with_labels({"images": images},
                                                 labels))["log_prob"]

  def sample(self, num_samples=None, temperature=1.0, seed=(0, 0), *,
             labels=None, guidance=None):
    """Stateless samples -> `{"images": float32, "pixels": uint8}`.

    An unconditional model draws `num_samples`; a class-conditional one
    draws one sample per label of `labels` (ints `[num_samples]`), at
    classifier-free `guidance` (a number >= 0, default 0; above 0 for a
    model trained with label dropout only, which the server checks).

    Raises:
      ValueError: `labels` with `num_samples`, neither of them, or
        `guidance` without `labels`; nothing is sent.
    """
    if labels is None:
      if guidance is not None:
        raise ValueError("`guidance` needs `labels` (a class-conditional "
                         f"model's sample); got guidance={guidance!r} and "
                         "no labels.")
      if num_samples is None:
        raise ValueError("`sample` needs `num_samples`, or `labels` for a "
                         "class-conditional model; got neither.")
      inputs = {"num_samples": num_samples}
    elif num_samples is not None:
      raise ValueError(
          "`labels` replace `num_samples` (one sample per label) for a "
          f"class-conditional model; got num_samples={num_samples!r} and "
          "labels too.")
    else:
      inputs = {"labels": labels,
                "guidance": 0.0 if guidance is None else guidance}
    return self.predict("sample", {**inputs, "temperature": temperature,
                                   "seed": seed})

  def encode(self, images, labels=None):
    """Pixels -> latent code `z` of the same shape (with each image's label,
    for a class-conditional model)."""
    return self.predict("encode", _with_labels({"images": images},
                                               labels))["z"]

  def decode(self, z, labels=None):
    """Latent code -> pixels (with each latent's label, for a
    class-conditional model)."""
    return self.predict("decode", _with_labels({"z": z}, labels))["images"]

  def interpolate(self, images_a, images_b, num_steps, labels=None):
    """Pairs of images -> `[batch, num_steps, H, W, C]` along the latent path
    (with each pair's label, for a class-conditional model)."""
    return self.predict("interpolate", _with_labels(
        {"images_a": images_a, "images_b": images_b, "num_steps": num_steps},
        labels))["images"]

  def classify(self, images):
    """8-bit images -> `(log_probs, label)` of a class-conditional model's
    Bayes classifier: float32 `[n, K]` `log p(y | x)` and int32 `[n]`."""
    out = self.predict("classify", {"images": images})
    return out["log_probs"], out["label"]

  def score(self, images):
    """8-bit images -> out-of-distribution scores (`score` signature):
    `{"bits_per_dim", "complexity_bits_per_dim", "ood_score",
    "typicality"}` float32 `[n]` and `"is_outlier"` bool `[n]` (of a
    class-conditional model: of its marginal density)."""
    return self.predict("score", {"images": images})


def _with_labels(inputs, labels):
  """`inputs`, and `labels` if given (a class-conditional model's)."""
  return inputs if labels is None else {**inputs, "labels": labels}
