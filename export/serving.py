"""A trained flow as a SavedModel with the serving signatures of TF Serving.

```python
path = export.serving.export_saved_model(flow, "models/mnist/1")
```

`tensorflow_model_server --model_name=mnist --model_base_path=$PWD/models/mnist`
then serves it; `export.client` talks to the server.
"""

import math
import os
import shutil
import tempfile

import tensorflow as tf

import tfnvp
from tfnvp.flows import ImageFlow

from .contract import SIGNATURES
from .graph_checks import all_true
from .graph_checks import assert_that
from .graph_checks import check_scalar_in
from .graph_checks import check_shape
from .graph_checks import check_values
from .graph_checks import checked
from .graph_checks import finite_output
from .graph_checks import runtime_shape

__all__ = ["CALIBRATION_FILE", "build_serving_module", "check_export_dir",
           "check_version_dir", "export_saved_model"]

# The calibration's JSON, in the version folder next to saved_model.pb.
CALIBRATION_FILE = "calibration.json"

_INT32_RANGE = (-2**31, 2**31 - 1)


def _check_images_shape(x, name, image_shape, what="image"):
  """`x` must be `[n, *image_shape]` with `n >= 1`."""
  dims = ", ".join(map(str, image_shape))
  return check_shape(
      x, name, [None, *image_shape],
      f"a batch of shape [n, {dims}] holding at least one {what} (n >= 1)")


def _check_scalar_shape(x, name, description):
  """`x` must be a scalar; `description` says of what values."""
  return check_shape(x, name, [], f"a scalar {description}",
                     show_values=True)


def build_serving_module(flow, *, calibration=None, max_samples=256,
                         max_interpolation_steps=64):
  """A `tf.Module` with the serving signatures of `flow`, ready to save.

  The signatures (names and dtypes in `export.contract.SIGNATURES`) run
  `flow` in inference mode (moving batch-norm statistics). Every request is
  checked in the graph, so the server returns an error naming the argument
  and the received shape or value instead of NaN or an error from deep in
  the model: a batch `[n, H, W, C]` of another rank or image shape, or an
  empty one (`n = 0`), a count or `temperature` that is not a scalar, a
  `seed` that is not `[2]`. The checks run in order, before any op of the
  model, and read the shape of the tensor actually fed: TF Serving does not
  check a request against the signature's shapes.

  ```none
  serving_default(images: uint8 [n, H, W, C])
      x = images + 0.5                          # pixel k -> centre of [k, k+1)
      -> log_prob = flow.log_prob(x), bits_per_dim = -log_prob / (H W C ln 2)
  log_prob(images: float32 [n, H, W, C] in [0, 256)) -> log_prob
  sample(num_samples in [1, max_samples], temperature > 0, seed: int64 [2])
      -> images = flow.bijector(temperature * z), z ~ N(0, I) drawn with the
         stateless `seed` (each value must fit in int32), pixels = uint8(images)
  encode(images: float32 [n, H, W, C]) -> z = f(images), f data-to-latent
  decode(z) -> images = f^-1(z)
  interpolate(images_a, images_b: [n, H, W, C], num_steps in
              [2, max_interpolation_steps])
      -> images [n, num_steps, H, W, C] = f^-1(cos(phi) z_a + sin(phi) z_b),
         phi = 0 .. pi/2 in equal steps, as in Real NVP's figures of latent
         manifolds [1]; its endpoints are a and b.
  score(images: uint8 [n, H, W, C])              # with a `calibration` only
      -> bits_per_dim = -log2 P(images) / D (`tfnvp.ood.pixel_bits_per_dim`:
         the pixels' probability from the calibration's noise patterns),
         complexity_bits_per_dim,
         ood_score = bits_per_dim - complexity_bits_per_dim, typicality =
         |bits_per_dim - mu| / sigma, is_outlier = score > threshold
         (`tfnvp.ood`; mu, sigma, the threshold and the score it applies to
         are the calibration's, as constants in the graph)
  ```

  `encode` accepts the whole domain of `f` (`flow.domain`): with Real NVP's
  logit preprocessing that is the open interval `(-256 alpha / (1 - 2
  alpha), 256 (1 - alpha) / (1 - 2 alpha))` (which `decode` can return),
  wider than the pixel range `[0, 256)` that `log_prob` requires; Glow's
  is all reals. In float32 the inverse logit rounds
  to an end of that interval once `|logit| > ~16.6`, so `decode` of a
  latent far from the data can return an end value, which `encode` refuses
  (its logit is infinite). The variables are tracked as the raw
  `tf.Variable`s behind the Keras variables; the module holds no Keras
  object, so the session-based loader of TF Serving finds every variable.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow` (a `tfnvp.flows.ImageFlow`).
    calibration: a `tfnvp.OutlierCalibration` of `flow` on in-distribution
      images, or `None` for no `score` signature.
    max_samples: Python `int >= 1`, the largest `num_samples` of `sample`.
    max_interpolation_steps: Python `int >= 2`, the largest `num_steps`.

  Returns:
    A `tf.Module` whose `serving_signatures` attribute maps each signature
    name to a `tf.function`; pass both to `tf.saved_model.save`.

  Raises:
    ValueError: for a flow that is not an image flow in inference mode, or
      bad limits.
    TypeError: for a `calibration` that is not a
      `tfnvp.OutlierCalibration`.

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """
  if not isinstance(flow, ImageFlow) or flow.training:
    raise ValueError("`flow` must be a tfnvp.RealNVP or tfnvp.Glow in "
                     f"inference mode (training=False); got {flow!r}.")
  for name, value, minimum in (
      ("max_samples", max_samples, 1),
      ("max_interpolation_steps", max_interpolation_steps, 2)):
    if not isinstance(value, int) or isinstance(value, bool) or (
        value < minimum):
      raise ValueError(f"`{name}` must be an int >= {minimum}; got "
                       f"{value!r}.")
  if calibration is not None and not isinstance(
      calibration, tfnvp.OutlierCalibration):
    raise TypeError("`calibration` must be a tfnvp.OutlierCalibration or "
                    f"None; got {type(calibration).__name__}.")
  image_shape = tuple(flow.image_shape)
  num_dims = math.prod(image_shape)
  dtype = flow.dtype
  domain, domain_text = None, "finite"
  if flow.domain is not None:
    domain = (*flow.domain, False)
    domain_text = f"finite and in ({domain[0]:.6g}, {domain[1]:.6g})"
  pixels, pixels_text = None, "finite"
  if flow.pixels:
    pixels, pixels_text = (0.0, 256.0, True), "finite and in [0, 256)"

  def spec(signature, name, shape):
    return tf.TensorSpec(shape, SIGNATURES[signature].inputs[name], name=name)

  batch = [None] + list(image_shape)

  # Checks for `checked`; `on(i, check)` applies a check of one tensor to
  # the i-th of several.
  def batch_shape(name, what="image"):
    return lambda x: _check_images_shape(x, name, image_shape, what)

  def values(name, bounds, text):
    return lambda x: check_values(x, name, bounds, text)

  def on(index, check):
    return lambda *tensors: check(tensors[index])

  def scalar_in(name, low, high):
    return [lambda x: _check_scalar_shape(x, name, f"in [{low}, {high}]"),
            lambda x: check_scalar_in(x, name, low, high)]

  def same_count(images_a, images_b, _):
    n_a, n_b = runtime_shape(images_a)[0], runtime_shape(images_b)[0]
    return assert_that(tf.equal(n_a, n_b), "`images_a` and `images_b` must "
                       "hold the same number of images; got", n_a, "and", n_b)

  def encode_checked(x):
    return finite_output(flow.flow.forward(tf.cast(x, dtype)), "latents")

  def decode_checked(z):
    return finite_output(flow.bijector.forward(z), "images")

  @tf.function(input_signature=[spec("serving_default", "images", batch)])
  def serving_default(images):
    images, = checked([images], batch_shape("images"))
    log_prob = flow.log_prob(tf.cast(images, dtype) + 0.5)
    return {"log_prob": tf.cast(log_prob, tf.float32),
            "bits_per_dim": tf.cast(-log_prob / (num_dims * math.log(2.0)),
                                    tf.float32)}

  @tf.function(input_signature=[spec("log_prob", "images", batch)])
  def log_prob(images):
    images, = checked([images], batch_shape("images"),
                      values("images", pixels, pixels_text))
    return {"log_prob": tf.cast(flow.log_prob(tf.cast(images, dtype)),
                                tf.float32)}

  @tf.function(input_signature=[spec("sample", "num_samples", []),
                                spec("sample", "temperature", []),
                                spec("sample", "seed", [2])])
  def sample(num_samples, temperature, seed):
    num_samples, temperature, seed = checked(
        [num_samples, temperature, seed],
        *(on(0, c) for c in scalar_in("num_samples", 1, max_samples)),
        on(1, lambda t: _check_scalar_shape(t, "temperature",
                                            "that is finite and > 0")),
        on(1, lambda t: assert_that(
            all_true(tf.math.is_finite(t) & (t > 0)),
            "`temperature` must be a finite scalar > 0; got", t)),
        on(2, lambda s: check_shape(s, "seed", [2],
                                    "two int64 values (shape [2])",
                                    show_values=True)),
        on(2, lambda s: assert_that(
            all_true((s >= _INT32_RANGE[0]) & (s <= _INT32_RANGE[1])),
            "`seed` must be two int64 values within int32 range "
            f"{list(_INT32_RANGE)}; got", s)))
    images = tfnvp.sample_at_temperature(
        flow, tf.reshape(num_samples, [1]), tf.cast(temperature, dtype),
        seed=tf.cast(seed, tf.int32))
    images = tf.cast(finite_output(images, "images"), tf.float32)
    return {"images": images, "pixels": tfnvp.to_uint8(images)}

  @tf.function(input_signature=[spec("encode", "images", batch)])
  def encode(images):
    images, = checked([images], batch_shape("images"),
                      values("images", domain, domain_text))
    return {"z": tf.cast(encode_checked(images), tf.float32)}

  @tf.function(input_signature=[spec("decode", "z", batch)])
  def decode(z):
    z, = checked([z], batch_shape("z", "latent"), values("z", None, "finite"))
    return {"images": tf.cast(decode_checked(tf.cast(z, dtype)),
                              tf.float32)}

  @tf.function(input_signature=[spec("interpolate", "images_a", batch),
                                spec("interpolate", "images_b", batch),
                                spec("interpolate", "num_steps", [])])
  def interpolate(images_a, images_b, num_steps):
    images_a, images_b, num_steps = checked(
        [images_a, images_b, num_steps],
        on(0, batch_shape("images_a")), on(1, batch_shape("images_b")),
        same_count,
        *(on(2, c) for c in scalar_in("num_steps", 2,
                                      max_interpolation_steps)),
        on(0, values("images_a", domain, domain_text)),
        on(1, values("images_b", domain, domain_text)))
    z = encode_checked(tf.concat([images_a, images_b], axis=0))
    z_a, z_b = tf.split(z, 2, axis=0)
    phi = tf.linspace(tf.constant(0.0, dtype), math.pi / 2, num_steps)
    weights_shape = [1, -1] + [1] * len(image_shape)
    path = (tf.reshape(tf.cos(phi), weights_shape) * z_a[:, tf.newaxis] +
            tf.reshape(tf.sin(phi), weights_shape) * z_b[:, tf.newaxis])
    images = decode_checked(tf.reshape(path, [-1, *image_shape]))
    out_shape = tf.concat([tf.shape(path)[:2], image_shape], axis=0)
    return {"images": tf.cast(tf.reshape(images, out_shape), tf.float32)}

  @tf.function(input_signature=[spec("score", "images", batch)])
  def score(images):
    images, = checked([images], batch_shape("images"))
    return calibration.scores(flow, images)

  module = tf.Module(name="tfnvp_serving")
  # Raw `tf.Variable`s only: a module holding a Keras object saves a model
  # that TF Serving's session-based loader cannot restore.
  backing = [getattr(v, "value", v) for v in flow.variables]
  for v, raw in zip(flow.variables, backing):
    if not isinstance(raw, tf.Variable):
      raise ValueError(f"Variable {v.path!r} is not backed by a tf.Variable "
                       f"(got {type(raw).__name__}); cannot export it.")
  module.variables_to_serve = backing
  module.serving_signatures = dict(
      serving_default=serving_default, log_prob=log_prob, sample=sample,
      encode=encode, decode=decode, interpolate=interpolate)
  if calibration is not None:
    module.serving_signatures["score"] = score
  return module


def check_version_dir(path):
  """`path` must be `BASE/NAME/VERSION` with a numeric version, as TF Serving.

  Returns:
    The version as an `int`.

  Raises:
    ValueError: if the last component of `path` is not a positive integer.
  """
  version = os.path.basename(os.path.normpath(path))
  if not version.isdigit() or int(version) < 1:
    raise ValueError(
        f"`output` must end in a numeric version folder (BASE/NAME/VERSION, "
        f"e.g. models/mnist/1): TF Serving only loads numeric versions; got "
        f"{path!r}.")
  return int(version)


def check_export_dir(export_dir, overwrite=False):
  """`export_dir`, normalized, if a version may be written there.

  Raises:
    ValueError: for a non-numeric version folder (`check_version_dir`).
    FileExistsError: if `export_dir` exists and `overwrite` is False.
  """
  check_version_dir(export_dir)
  export_dir = os.path.normpath(export_dir)
  if os.path.exists(export_dir) and not overwrite:
    raise FileExistsError(
        f"`output` {export_dir!r} exists; pick a new version number (TF "
        "Serving may be serving this one) or pass overwrite=True "
        "(--overwrite).")
  return export_dir


def export_saved_model(flow, export_dir, *, calibration=None,
                       max_samples=256, max_interpolation_steps=64,
                       overwrite=False):
  """Saves `flow`'s serving signatures to `export_dir` (a version folder).

  The SavedModel is written to a hidden sibling folder first and renamed
  into place, so a TF Serving instance polling the base folder never sees a
  half-written version. With a `calibration`, its JSON is written beside
  the SavedModel as `export_dir/calibration.json` (`CALIBRATION_FILE`;
  the server ignores it) for clients and people to read.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow` in inference mode.
    export_dir: `BASE/NAME/VERSION`; `--model_base_path` of the server is
      `BASE/NAME`.
    calibration: see `build_serving_module`.
    max_samples: see `build_serving_module`.
    max_interpolation_steps: see `build_serving_module`.
    overwrite: replace an existing `export_dir`.

  Returns:
    `export_dir`.

  Raises:
    ValueError: for a non-numeric version folder or bad limits.
    FileExistsError: if `export_dir` exists and `overwrite` is False.
  """
  export_dir = check_export_dir(export_dir, overwrite)
  module = build_serving_module(
      flow, calibration=calibration, max_samples=max_samples,
      max_interpolation_steps=max_interpolation_steps)
  parent = os.path.dirname(export_dir) or "."
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(
      prefix=f".{os.path.basename(export_dir)}.tmp-", dir=parent)
  umask = os.umask(0)
  os.umask(umask)
  try:
    # mkdtemp makes the folder private (0700); a server running as another
    # user must be able to read the version.
    os.chmod(staging, 0o777 & ~umask)
    tf.saved_model.save(module, staging, signatures=module.serving_signatures)
    if calibration is not None:
      calibration.save(os.path.join(staging, CALIBRATION_FILE))
    if os.path.exists(export_dir):
      shutil.rmtree(export_dir)
    os.rename(staging, export_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return export_dir
