"""One stored 8-bit image to one model input: crops, resizes, flips, noise.

Preprocessing follows Dinh, Sohl-Dickstein and Bengio, *Density estimation
using Real NVP* (ICLR 2017), section 4.1, where it describes it:

* CelebA: an approximately central 148x148 crop, resized to 64x64.
* LSUN (bedroom, tower, church outdoor): downscale so that the smaller side
  is 96 pixels, then take random 64x64 crops.
* Downsampled ImageNet 32x32 and 64x64: used as is.

Random horizontal flips in training: CIFAR-10, CelebA and LSUN, not
downsampled ImageNet, as the authors' released code (`tensorflow/models`,
`research/real_nvp`) flips CelebA and LSUN and not ImageNet. MNIST and
Fashion-MNIST are not in the paper; they are not flipped (digits and clothes
are not mirror-symmetric data).

The result is the raw 8-bit pixel values plus uniform dequantization noise
`u ~ U[0, 1)` (`dequantize`): float32 values in `[0, 256)`. Scaling to
`[0, 1)` and the logit transform of the Real NVP paper belong to the model,
not to this module. Needs TensorFlow only, not TensorFlow Datasets.
"""

from typing import Sequence

import tensorflow as tf

from tfnvp.data.specs import DatasetSpec
from tfnvp.internal.dequantization import MAX_DEQUANTIZED_VALUE
from tfnvp.internal.dequantization import add_noise

__all__ = ["MAX_DEQUANTIZED_VALUE", "dequantize", "preprocess_image"]


def dequantize(
    images: tf.Tensor,
    seed: tf.Tensor | Sequence[int] | None = None,
) -> tf.Tensor:
  """Uniform dequantization: integer pixels to float32 values in [0, 256).

  Returns `x + u` with `u ~ U[0, 1)` drawn independently per element.
  With a `seed` the noise is `tf.random.stateless_uniform(shape, seed)`
  (float32), so the result is a deterministic function of `(images,
  seed)`; without one it comes from the global TF random state.

  In float32, `x + u` rounds up to exactly `x + 1` when `u` is within half
  a float32 spacing at `x` of 1 (about `2**-17` for `x` in [128, 255],
  `2**-18` in [64, 127], ...), which happens for a few elements per
  million. Such a value would belong to the next pixel value's interval
  (and for `x = 255` leave `[0, 256)`), so the result is clamped to the
  largest float32 below `x + 1`: it always lies in `[x, x + 1)`, hence
  `floor(dequantize(x)) == x`, and it is at most `MAX_DEQUANTIZED_VALUE`
  (the largest float32 below 256).

  Args:
    images: Integer tensor (typically uint8) of pixel values in [0, 255].
    seed: Optional stateless seed, shape `[2]` int32/int64.

  Returns:
    float32 tensor of the same shape, values in `[0, 256)`.

  Raises:
    TypeError: If `images` is not of an integer dtype.
  """
  images = tf.convert_to_tensor(images)
  if not images.dtype.is_integer:
    raise TypeError(
        "dequantize expects integer pixel values, got dtype "
        f"{images.dtype.name}"
    )
  x = tf.cast(images, tf.float32)
  if seed is None:
    noise = tf.random.uniform(tf.shape(x), dtype=tf.float32)
  else:
    noise = tf.random.stateless_uniform(
        tf.shape(x), seed=seed, dtype=tf.float32)
  return add_noise(x, noise)


def _resize_smaller_side(image: tf.Tensor, target: int) -> tf.Tensor:
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  smaller = tf.minimum(height, width)
  scale = tf.cast(target, tf.float64) / tf.cast(smaller, tf.float64)

  def scaled(side: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(tf.cast(side, tf.float64) * scale), tf.int32)

  new_height = tf.where(height == smaller, target, scaled(height))
  new_width = tf.where(width == smaller, target, scaled(width))
  resized = tf.image.resize(
      image, tf.stack([new_height, new_width]), method="bilinear",
      antialias=True)
  # Keep the data 8-bit: dequantization assumes integer pixel values.
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _central_crop(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
  shape = tf.shape(image)
  return tf.image.crop_to_bounding_box(
      image, (shape[0] - height) // 2, (shape[1] - width) // 2, height, width
  )


def preprocess_image(
    image: tf.Tensor,
    spec: DatasetSpec,
    *,
    training: bool,
    seed: tf.Tensor | Sequence[int],
    dequantized: bool = True,
) -> tf.Tensor:
  """Turns one stored image into one model input, as described by `spec`.

  Applies `spec.crop_box`, the smaller-side resize (rounded back to
  8-bit values), the crop to `spec.image_shape` (random in training,
  central otherwise), the random horizontal flip (training and
  `spec.horizontal_flip` only) and `dequantize`. All randomness is
  stateless and derived from `seed`.

  Args:
    image: uint8 tensor `[height, width, channels]` as stored by TFDS.
    spec: The dataset's `DatasetSpec`.
    training: Random crops and flips if True; deterministic otherwise.
    seed: Stateless seed, shape `[2]` int32/int64.
    dequantized: False returns the uint8 pixels, without `dequantize`.

  Returns:
    float32 tensor of shape `spec.image_shape` with values in
    `[0, 256)` (uint8 if not `dequantized`).

  Raises:
    tf.errors.InvalidArgumentError: At run time, if the image does not
      end up with shape `spec.image_shape`.
  """
  height, width, channels = spec.image_shape
  crop_seed, flip_seed, noise_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, num=3)
  )
  if spec.crop_box is not None:
    image = tf.image.crop_to_bounding_box(image, *spec.crop_box)
  if spec.resize_smaller_side is not None:
    image = _resize_smaller_side(image, spec.resize_smaller_side)
    if training:
      image = tf.image.stateless_random_crop(
          image, [height, width, channels], seed=crop_seed
      )
    else:
      image = _central_crop(image, height, width)
  if training and spec.horizontal_flip:
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
  image = tf.ensure_shape(image, spec.image_shape)
  if not dequantized:
    return image
  return dequantize(image, seed=noise_seed)
