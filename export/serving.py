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
from export.contract import SIGNATURES
from tfnvp.flows import ImageFlow
from tfnvp.internal.checks import check_int

__all__ = ["build_serving_module", "check_version_dir", "export_saved_model"]

_INT32_RANGE = (-2**31, 2**31 - 1)


def _assert(condition, *data):
  """An `Assert` op; returns it to be used as a control dependency."""
  return tf.debugging.Assert(condition, list(data), summarize=8)


def _after(checks, *tensors):
  """`tensors`, usable only once every op in `checks` has run."""
  with tf.control_dependencies(checks):
    out = [tf.identity(t) for t in tensors]
  return out[0] if len(out) == 1 else out


def _check_batch_shape(x, name, event_shape):
  """`x` must be `[batch, *event_shape]`."""
  shape = tf.shape(x)
  expected = tf.constant(event_shape, tf.int32)
  ok = tf.logical_and(
      tf.equal(tf.size(shape), len(event_shape) + 1),
      tf.reduce_all(tf.equal(shape[1:], expected)))
  return _assert(ok, f"`{name}` must have shape [batch, "
                 f"{', '.join(map(str, event_shape))}]; got", shape)


def _check_values(x, name, bounds=None, description="finite"):
  """Every value of `x` finite and, with `bounds=(low, high, low_closed)`, in
  `[low, high)` (`low_closed`) or `(low, high)`."""
  finite = tf.math.is_finite(x)
  ok = finite
  if bounds is not None:
    low, high, low_closed = bounds
    ok &= (x >= low) if low_closed else (x > low)
    ok &= x < high
  zeros = tf.zeros_like(x)
  return _assert(
      tf.reduce_all(ok), f"`{name}` must be {description}; got",
      tf.reduce_sum(tf.cast(tf.logical_not(ok), tf.int32)),
      "values that are not, of which NaN or inf:",
      tf.reduce_sum(tf.cast(tf.logical_not(finite), tf.int32)),
      "; finite values range from", tf.reduce_min(tf.where(finite, x, zeros)),
      "to", tf.reduce_max(tf.where(finite, x, zeros)))


def _check_scalar_in(x, name, low, high):
  shape_ok = tf.equal(tf.size(tf.shape(x)), 0)
  return _assert(
      tf.logical_and(shape_ok, tf.reduce_all((x >= low) & (x <= high))),
      f"`{name}` must be a scalar in [{low}, {high}]; got", x)


def _check_output(x, what):
  return _assert(
      tf.reduce_all(tf.math.is_finite(x)),
      f"The model produced non-finite {what} (NaN or inf); no output is "
      "returned. Lower `temperature` or check the exported checkpoint.")


def build_serving_module(flow, *, max_samples=256, max_interpolation_steps=64):
  """A `tf.Module` with the serving signatures of `flow`, ready to save.

  The signatures (names and dtypes in `export.contract.SIGNATURES`) run
  `flow` in inference mode (moving batch-norm statistics). Every request is
  checked in the graph, so the server returns an error naming the argument
  and its value instead of NaN:

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
    max_samples: Python `int >= 1`, the largest `num_samples` of `sample`.
    max_interpolation_steps: Python `int >= 2`, the largest `num_steps`.

  Returns:
    A `tf.Module` whose `serving_signatures` attribute maps each signature
    name to a `tf.function`; pass both to `tf.saved_model.save`.

  Raises:
    ValueError: for a flow that is not an image flow in inference mode, or
      bad limits.

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """
  if not isinstance(flow, ImageFlow) or flow.training:
    raise ValueError("`flow` must be a tfnvp.RealNVP or tfnvp.Glow in "
                     f"inference mode (training=False); got {flow!r}.")
  check_int("max_samples", max_samples, 1)
  check_int("max_interpolation_steps", max_interpolation_steps, 2)
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

  def encode_checked(x, name):
    checks = [_check_batch_shape(x, name, image_shape),
              _check_values(x, name, domain, domain_text)]
    z = flow.flow.forward(tf.cast(_after(checks, x), dtype))
    return _after([_check_output(z, "latents")], z)

  def decode_checked(z):
    images = flow.bijector.forward(z)
    return _after([_check_output(images, "images")], images)

  @tf.function(input_signature=[spec("serving_default", "images", batch)])
  def serving_default(images):
    images = _after([_check_batch_shape(images, "images", image_shape)],
                    images)
    log_prob = flow.log_prob(tf.cast(images, dtype) + 0.5)
    return {"log_prob": tf.cast(log_prob, tf.float32),
            "bits_per_dim": tf.cast(-log_prob / (num_dims * math.log(2.0)),
                                    tf.float32)}

  @tf.function(input_signature=[spec("log_prob", "images", batch)])
  def log_prob(images):
    checks = [_check_batch_shape(images, "images", image_shape),
              _check_values(images, "images", pixels, pixels_text)]
    images = tf.cast(_after(checks, images), dtype)
    return {"log_prob": tf.cast(flow.log_prob(images), tf.float32)}

  @tf.function(input_signature=[spec("sample", "num_samples", []),
                                spec("sample", "temperature", []),
                                spec("sample", "seed", [2])])
  def sample(num_samples, temperature, seed):
    checks = [
        _check_scalar_in(num_samples, "num_samples", 1, max_samples),
        _assert(tf.logical_and(tf.equal(tf.size(tf.shape(temperature)), 0),
                               tf.reduce_all(tf.math.is_finite(temperature) &
                                             (temperature > 0))),
                "`temperature` must be a finite scalar > 0; got",
                temperature),
        _assert(tf.reduce_all((seed >= _INT32_RANGE[0]) &
                              (seed <= _INT32_RANGE[1])),
                "`seed` must be two int64 values within int32 range "
                f"{list(_INT32_RANGE)}; got", seed)]
    num_samples, temperature, seed = _after(checks, num_samples, temperature,
                                            seed)
    images = tfnvp.sample_at_temperature(
        flow, [num_samples], tf.cast(temperature, dtype),
        seed=tf.cast(seed, tf.int32))
    images = tf.cast(_after([_check_output(images, "images")], images),
                     tf.float32)
    return {"images": images, "pixels": tfnvp.to_uint8(images)}

  @tf.function(input_signature=[spec("encode", "images", batch)])
  def encode(images):
    return {"z": tf.cast(encode_checked(images, "images"), tf.float32)}

  @tf.function(input_signature=[spec("decode", "z", batch)])
  def decode(z):
    checks = [_check_batch_shape(z, "z", image_shape),
              _check_values(z, "z")]
    z = tf.cast(_after(checks, z), dtype)
    return {"images": tf.cast(decode_checked(z), tf.float32)}

  @tf.function(input_signature=[spec("interpolate", "images_a", batch),
                                spec("interpolate", "images_b", batch),
                                spec("interpolate", "num_steps", [])])
  def interpolate(images_a, images_b, num_steps):
    checks = [
        _check_scalar_in(num_steps, "num_steps", 2, max_interpolation_steps),
        _assert(tf.equal(tf.shape(images_a)[0], tf.shape(images_b)[0]),
                "`images_a` and `images_b` must hold the same number of "
                "images; got", tf.shape(images_a)[0], "and",
                tf.shape(images_b)[0])]
    num_steps = _after(checks, num_steps)
    z = encode_checked(tf.concat([images_a, images_b], axis=0), "images_a/b")
    z_a, z_b = tf.split(z, 2, axis=0)
    phi = tf.linspace(tf.constant(0.0, dtype), math.pi / 2, num_steps)
    weights_shape = [1, -1] + [1] * len(image_shape)
    path = (tf.reshape(tf.cos(phi), weights_shape) * z_a[:, tf.newaxis] +
            tf.reshape(tf.sin(phi), weights_shape) * z_b[:, tf.newaxis])
    images = decode_checked(tf.reshape(path, [-1, *image_shape]))
    out_shape = tf.concat([tf.shape(path)[:2], image_shape], axis=0)
    return {"images": tf.cast(tf.reshape(images, out_shape), tf.float32)}

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


def export_saved_model(flow, export_dir, *, max_samples=256,
                       max_interpolation_steps=64, overwrite=False):
  """Saves `flow`'s serving signatures to `export_dir` (a version folder).

  The SavedModel is written to a hidden sibling folder first and renamed
  into place, so a TF Serving instance polling the base folder never sees a
  half-written version.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow` in inference mode.
    export_dir: `BASE/NAME/VERSION`; `--model_base_path` of the server is
      `BASE/NAME`.
    max_samples: see `build_serving_module`.
    max_interpolation_steps: see `build_serving_module`.
    overwrite: replace an existing `export_dir`.

  Returns:
    `export_dir`.

  Raises:
    ValueError: for a non-numeric version folder or bad limits.
    FileExistsError: if `export_dir` exists and `overwrite` is False.
  """
  check_version_dir(export_dir)
  export_dir = os.path.normpath(export_dir)
  if os.path.exists(export_dir) and not overwrite:
    raise FileExistsError(
        f"`output` {export_dir!r} exists; pick a new version number (TF "
        "Serving may be serving this one) or pass overwrite=True "
        "(--overwrite).")
  module = build_serving_module(
      flow, max_samples=max_samples,
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
    if os.path.exists(export_dir):
      shutil.rmtree(export_dir)
    os.rename(staging, export_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return export_dir
