"""The outlier scores of a flow over 8-bit images, one value per image.

```none
pixel_bits_per_dim(x)       = -log2 P(x) / D,  P(x) = integral of p(x + u)
                              over u in [0, 1)^D        (8-bit image x)
complexity_bits_per_dim(x)  = 8 * len(PNG(x)) / D         (lossless)
ood_score(x)                = pixel_bits_per_dim(x)
                              - complexity_bits_per_dim(x)
```

See `tfnvp.ood` for what each detects and when it fails. The checks of
their arguments serve `tfnvp.ood.calibration` too.
"""

import math
import reprlib

import numpy as np
import tensorflow as tf

from tfnvp.internal.checks import is_number
from tfnvp.internal.dequantization import add_noise
from tfnvp.internal.units import nats_to_bits_per_dim
from tfnvp.metrics import bits_per_dim as _bits_per_dim

__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "check_compression",
    "check_flow_images",
    "check_samples",
    "complexity_bits_per_dim",
    "ood_score",
    "pixel_bits_per_dim",
]

# Noise patterns of `pixel_bits_per_dim` by default.
DEFAULT_NUM_SAMPLES = 4

# zlib's levels, as `tf.io.encode_png` takes them (-1: zlib's default, 6).
_COMPRESSION_LEVELS = range(-1, 10)

# The largest `num_samples`: the noise patterns' count is an int32 size.
_MAX_NUM_SAMPLES = 2**31 - 1


def _dtype_error(name, dtype):
  return TypeError(
      f"`{name}` must be uint8 pixels in [0, 255]; got {dtype}. Scores are "
      "defined on the 8-bit values, not on dequantized ones: check that the "
      "values are integers in [0, 255] (or clip them explicitly) before "
      "converting, since a conversion to uint8 wraps 256 to 0.")


def _check_images(images, name="images"):
  """`images` as a uint8 tensor of static rank 4 with 1 to 4 channels and
  no empty image (`H, W >= 1`, checked at run time if unknown)."""
  if isinstance(images, np.ndarray) and images.dtype != np.uint8:
    raise _dtype_error(name, f"a {images.dtype.name} array")
  images = tf.convert_to_tensor(images)
  if images.dtype != tf.uint8:
    raise _dtype_error(name, f"dtype {images.dtype.name}")
  shape = images.shape
  if shape.rank != 4 or (shape[-1] is not None and not 1 <= shape[-1] <= 4):
    raise ValueError(f"`{name}` must be [n, H, W, C] with C in 1..4 (PNG's "
                     f"grey, grey+alpha, RGB, RGBA); got shape {shape}.")
  message = (f"`{name}` must hold images of at least one pixel, [n, H, W, C] "
             "with H, W >= 1; got shape")
  if 0 in shape[1:3]:
    raise ValueError(f"{message} {shape}.")
  if not shape[1:3].is_fully_defined():
    sizes = tf.shape(images)
    with tf.control_dependencies([tf.debugging.Assert(
        tf.reduce_all(sizes[1:3] >= 1), [message, sizes], summarize=4)]):
      images = tf.identity(images)
  return images


def check_compression(compression):
  """`ValueError` unless `compression` is a zlib level, an int in -1..9."""
  if not is_number(compression, int) or (
      compression not in _COMPRESSION_LEVELS):
    raise ValueError("`compression` must be an int in -1..9 (zlib's level); "
                     f"got {compression!r}.")


def complexity_bits_per_dim(images, compression=9):
  """The PNG-compressed length of each image, in bits per dimension.

  ```none
  complexity_bits_per_dim(x) = 8 * len(PNG(x)) / (H * W * C)
  ```

  The whole PNG file counts (signature, header and end chunks: about 60
  bytes, the same for every image of a size), as in Serra et al.'s
  input-complexity estimate; it is computed with `tf.io.encode_png`, so it
  runs in graphs, SavedModels and TF Serving. PNG is the only lossless image
  codec among TF's ops (its JPEG encoder is lossy, and a lossy code length
  is not a complexity of `x`); `compression` chooses zlib's effort.

  Args:
    images: uint8 `Tensor` `[n, H, W, C]`, `C` in 1..4.
    compression: Python `int`, zlib's level: 0 (none) to 9 (smallest,
      the default), or -1 for zlib's default (6).

  Returns:
    complexity: float32 `Tensor` `[n]`.

  Raises:
    TypeError: if `images` is not uint8.
    ValueError: for another rank, channel count or `compression`, or an
      empty image (`H` or `W` of 0; `InvalidArgumentError` at run time if
      the static shape does not say).

  #### Examples

  ```python
  images = tf.zeros([2, 28, 28, 1], tf.uint8)
  tfnvp.ood.complexity_bits_per_dim(images)   # a blank image: ~0.7
  ```
  """
  check_compression(compression)
  images = _check_images(images)
  num_dims = tf.cast(tf.reduce_prod(tf.shape(images)[1:]), tf.float32)
  lengths = tf.map_fn(
      lambda image: tf.strings.length(
          tf.io.encode_png(image, compression=compression)),
      images, fn_output_signature=tf.int32)
  return 8.0 * tf.cast(lengths, tf.float32) / num_dims


def check_flow_images(flow, images):
  """`images` as a uint8 tensor `[n, H, W, C]` of `flow`'s event shape, or
  `TypeError`/`ValueError` naming the dtype or shape received."""
  images = _check_images(images)
  event = tuple(flow.event_shape)
  if not images.shape[1:].is_compatible_with(event):
    raise ValueError(f"`images` must be [n, {', '.join(map(str, event))}] "
                     f"for this flow; got shape {images.shape}.")
  return images


def check_samples(num_samples, seed):
  """`ValueError` unless `num_samples` is an int in `[0, 2**31 - 1]` and
  `seed` an int64 (the noise's stateless seed)."""
  if not is_number(num_samples, int) or not (
      0 <= num_samples <= _MAX_NUM_SAMPLES):
    raise ValueError(f"`num_samples` must be an int in [0, "
                     f"{_MAX_NUM_SAMPLES}] (0: the pixel centres); got "
                     f"{reprlib.repr(num_samples)}.")
  if not is_number(seed, int) or not -2**63 <= seed < 2**63:
    raise ValueError("`seed` must be an int in int64's range; got "
                     f"{reprlib.repr(seed)}.")


def pixel_bits_per_dim(flow, images, num_samples=DEFAULT_NUM_SAMPLES,
                       seed=0):
  """Bits/dim of 8-bit images: `-log2 P(x) / D`, `P` the pixels' probability.

  ```none
  P(x) = integral over [0, 1)^D of p(x + u) du
      ~= mean_k p(x + u_k),  k = 1..K,  u_k ~ U[0, 1)^D
  ```

  the importance-sampling estimate with the uniform proposal (its log is a
  lower bound of `log P(x)` in expectation, tighter as `K` grows [4]). The
  noise patterns `u_k` are drawn once from the stateless `seed` and are the
  same for every image, so an image's value does not depend on the batch
  it comes in, and a SavedModel returns the same number as this function.
  `num_samples=0` evaluates the density at the pixel centres instead,
  `-log2 p(x + 1/2) / D` (as `serving_default` of an export does); a
  point value of the density, not a probability of the pixels.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow` (any flow over `[0, 256)`
      pixels with a fully defined event shape).
    images: uint8 `Tensor` `[n, H, W, C]`, the flow's `[H, W, C]`.
    num_samples: Python `int` in `[0, 2**31 - 1]`, `K`; the flow runs on
      `K n` images.
    seed: Python `int` in int64's range, of the noise patterns.

  Returns:
    float32 `Tensor` `[n]`.

  Raises:
    TypeError: if `images` is not uint8.
    ValueError: for another shape than the flow's images, or bad
      `num_samples` or `seed`.

  #### References

  [4]: Jonathan Ho, Xi Chen, Aravind Srinivas, Yan Duan and Pieter Abbeel.
       Flow++: improving flow-based generative models with variational
       dequantization and architecture design. ICML 2019.
       https://arxiv.org/abs/1902.00275
  """
  check_samples(num_samples, seed)
  images = check_flow_images(flow, images)
  x = tf.cast(images, flow.dtype)
  if num_samples == 0:
    return tf.cast(_bits_per_dim(flow, x + tf.constant(0.5, flow.dtype)),
                   tf.float32)
  event = list(flow.event_shape)
  noise = tf.random.stateless_uniform([num_samples, 1, *event], [seed, 0],
                                      dtype=flow.dtype)
  shifted = add_noise(x, noise)
  log_probs = tf.reshape(flow.log_prob(tf.reshape(shifted, [-1, *event])),
                         [num_samples, -1])
  log_p = tf.reduce_logsumexp(log_probs, axis=0) - tf.math.log(
      tf.constant(num_samples, flow.dtype))
  return tf.cast(nats_to_bits_per_dim(-log_p, math.prod(event)), tf.float32)


def ood_score(flow, images, compression=9,
              num_samples=DEFAULT_NUM_SAMPLES, seed=0):
  """Serra et al.'s input-complexity corrected score: larger = anomalous.

  ```none
  ood_score(x) = pixel_bits_per_dim(flow, x) - complexity_bits_per_dim(x)
  ```

  It is `-log2(p(x) / q(x)) / D` with `q` the PNG code's implicit model:
  negative where the flow codes `x` better than PNG does (typical of its
  training data), larger where the flow does worse than a generic
  compressor. See `tfnvp.ood` for when it fails.

  Args:
    flow: see `pixel_bits_per_dim`.
    images: uint8 `Tensor` `[n, H, W, C]`.
    compression: see `complexity_bits_per_dim`.
    num_samples: see `pixel_bits_per_dim`.
    seed: see `pixel_bits_per_dim`.

  Returns:
    float32 `Tensor` `[n]`.

  Raises:
    TypeError: if `images` is not uint8.
    ValueError: for another image shape, `compression`, `num_samples` or
      `seed`.
  """
  return (pixel_bits_per_dim(flow, images, num_samples, seed) -
          complexity_bits_per_dim(images, compression))
