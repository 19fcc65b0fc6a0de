"""Every supported dataset through `tfnvp.data`, on data TFDS fakes offline.

Only MNIST and Fashion-MNIST files exist offline, so the other datasets run
on `tfds.testing.mock_data` (see `mock_tfds.py`): the builders are the real
TFDS ones, with their feature specs and split names, and the examples are
fake images of the sizes TFDS stores (LSUN: smaller side 256, any aspect
ratio). On that data the tests run the real `data.prepare`,
`data.make_dataset` and `data.preprocess_image`, and check the
preprocessing of each dataset against the same steps done by hand: the
CelebA crop box and resize, LSUN's smaller-side resize and central (eval)
or random (training) 64x64 crop, flips only where the spec says, and the
train/eval split names.
"""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.data import mock_tfds
from tests.data.mock_tfds import undequantize
from tfnvp import data

ALL_DATASETS = sorted(data.DATASETS)
# The datasets training flips (the choice documented in
# tfnvp/data/preprocessing.py;
# the authors' code flips CelebA and LSUN, not downsampled ImageNet).
FLIPPED = {"cifar10", "celeb_a", "lsun/bedroom", "lsun/church_outdoor",
           "lsun/tower"}
LSUN = ["lsun/bedroom", "lsun/church_outdoor", "lsun/tower"]
# CelebA: rows 40..187 and columns 15..162 of the 218x178 image.
CELEB_A_ROWS = slice(40, 188)
CELEB_A_COLS = slice(15, 163)


# --- by-hand preprocessing ---------------------------------------------------


def _smaller_side_size(height, width, target):
  """`(height, width)` scaled so that the smaller side is `target`."""
  if height <= width:
    return target, int(round(width * target / height))
  return int(round(height * target / width)), target


def _resize_tf(image, size):
  """Antialiased bilinear resize rounded back to uint8, with TF's kernel."""
  resized = tf.image.resize(image, size, method="bilinear", antialias=True)
  return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def _resize_pil(image, size):
  """The same resize with PIL's bilinear filter (antialiased when shrinking)."""
  height, width = size
  return np.asarray(Image.fromarray(image).resize((width, height),
                                                  Image.BILINEAR))


def _before_crop(name, image):
  """`image` after the crop box and smaller-side resize of `name`'s spec.

  The crop indices and target size are worked out here; the resize kernel
  is TF's (`_resize_tf`, checked against PIL's in the tests below).
  """
  spec = data.DATASETS[name]
  if name == "celeb_a":
    image = image[CELEB_A_ROWS, CELEB_A_COLS]
  if spec.resize_smaller_side is not None:
    size = _smaller_side_size(*image.shape[:2], spec.resize_smaller_side)
    image = _resize_tf(image, size)
  return image


def _central(image, height, width):
  top = (image.shape[0] - height) // 2
  left = (image.shape[1] - width) // 2
  return image[top:top + height, left:left + width]


def _eval_by_hand(name, image):
  """The evaluation preprocessing of `name`, without dequantization."""
  height, width, _ = data.DATASETS[name].image_shape
  return _central(_before_crop(name, image), height, width)


def _windows_matching(resized, pixels):
  """Offsets `(top, left)` where `pixels` is a window of `resized`."""
  height, width = pixels.shape[:2]
  tops, lefts = np.nonzero(
      np.all(resized[:resized.shape[0] - height + 1,
                     :resized.shape[1] - width + 1] == pixels[0, 0], axis=-1))
  return [(top, left) for top, left in zip(tops, lefts)
          if np.array_equal(resized[top:top + height, left:left + width],
                            pixels)]


def _train_match(name, image, out):
  """How training turned `image` into `out`: `(offset, flipped)`.

  `offset` is the crop's `(top, left)` in the resized image (`(0, 0)`
  without a crop); fails if `out` is no (flipped) crop of the resized
  `image`.
  """
  pixels = undequantize(out)
  resized = _before_crop(name, image)
  matches = []
  for flipped in (False, True):
    candidate = pixels[:, ::-1] if flipped else pixels
    matches += [(offset, flipped)
                for offset in _windows_matching(resized, candidate)]
  assert matches, f"{name}: the training image is no crop of the input"
  # An image equal to its own mirror would match both ways; ours are not.
  assert len({flipped for _, flipped in matches}) == 1
  return matches[0]


# --- specs and splits ----------------------------------------------------------


def test_every_dataset_is_mocked():
  assert set(mock_tfds.TFDS_SPLITS) == set(data.DATASETS)


def test_flip_choices():
  assert {n for n, s in data.DATASETS.items() if s.horizontal_flip} == FLIPPED


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_mocked_builder_has_the_spec_splits(name, mocked, tmp_path):
  spec = data.DATASETS[name]
  # The data_dir given is ignored by the mock; nothing is downloaded.
  builder = data.prepare(name, data_dir=str(tmp_path), raw_data_dir="")
  assert builder.is_prepared()
  splits = builder.info.splits
  assert set(splits) == set(mock_tfds.TFDS_SPLITS[name])
  assert spec.train_split in splits and spec.eval_split in splits
  assert spec.train_split != spec.eval_split
  image = builder.info.features["image"]
  assert image.dtype == tf.uint8
  assert image.shape[-1] == spec.image_shape[-1]
  expected_static = {
      "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1),
      "cifar10": (32, 32, 3), "celeb_a": (218, 178, 3),
  }.get(name, (None, None, 3))
  assert tuple(image.shape) == expected_static
  # A split the builder lacks is refused, naming the ones it has.
  missing = next(s for s in ("test", "validation", "unlabelled")
                 if s not in splits)
  with pytest.raises(ValueError, match=spec.eval_split):
    data.make_dataset(name, missing, 4, training=False, raw_data_dir="")


# --- the input pipeline on mock data -----------------------------------------


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_eval_pipeline(name, mocked):
  """Eval batches: shape, range, no flips, central crop, deterministic."""
  spec = data.DATASETS[name]
  raw = mock_tfds.raw_examples(name, spec.eval_split)
  assert len(raw) == mock_tfds.SPLIT_SIZES[spec.eval_split]
  ds = data.make_dataset(name, spec.eval_split, 4, training=False,
                         raw_data_dir="", num_examples=10,
                         drop_remainder=False)
  assert ds.element_spec.shape.as_list() == [None, *spec.image_shape]
  assert ds.element_spec.dtype == tf.float32
  batches = [b.numpy() for b in ds]
  assert [len(b) for b in batches] == [4, 4, 2]
  out = np.concatenate(batches)
  pixels = undequantize(out)
  assert (out != np.floor(out)).mean() > 0.99  # dequantized
  for i in range(10):
    np.testing.assert_array_equal(pixels[i], _eval_by_hand(name, raw[i]))
  np.testing.assert_array_equal(out, np.concatenate([b.numpy() for b in ds]))


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_train_pipeline(name, mocked):
  """Training batches: crops of the resized input, flips where the spec says."""
  spec = data.DATASETS[name]
  raw = mock_tfds.raw_examples(name, spec.train_split)
  num = len(raw)
  assert num == mock_tfds.SPLIT_SIZES[spec.train_split]
  # shuffle_buffer=1 keeps the order: example k is raw[k % num].
  ds = data.make_dataset(name, spec.train_split, 4, training=True,
                         raw_data_dir="", shuffle_buffer=1, seed=3)
  assert ds.element_spec.shape.as_list() == [4, *spec.image_shape]
  it = iter(ds)
  out = np.concatenate([next(it).numpy() for _ in range(num // 4 + 2)])
  assert (out != np.floor(out)).mean() > 0.99
  matches = [_train_match(name, raw[k % num], out[k]) for k in range(len(out))]
  flips = [flipped for _, flipped in matches]
  if name in FLIPPED:
    assert 0 < sum(flips) < len(flips)
  else:
    assert not any(flips)
  offsets = {offset for offset, _ in matches}
  if spec.resize_smaller_side is not None and name != "celeb_a":
    assert len(offsets) > len(out) // 2  # random crops
  else:
    assert offsets == {(0, 0)}  # no crop
  # The second epoch sees the same images with fresh noise and crops.
  assert not np.array_equal(out[:4], out[num:num + 4])


# --- preprocessing against a by-hand implementation --------------------------


def _celeb_a_image():
  """A known 218x178 image: a different colour ramp per channel plus noise."""
  rows, cols = np.mgrid[0:218, 0:178]
  rng = np.random.default_rng(7)
  image = np.stack([rows * 255 / 217, cols * 255 / 177,
                    128 + 100 * np.sin(rows / 9.0 + cols / 13.0)], axis=-1)
  image = image + rng.normal(0, 20, image.shape)
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def test_celeb_a_crop_box_and_resize_by_hand(mocked):
  spec = data.DATASETS["celeb_a"]
  assert spec.crop_box == (40, 15, 148, 148)
  images = [_celeb_a_image()] + mock_tfds.raw_examples("celeb_a", "test")[:3]
  for i, image in enumerate(images):
    by_hand = _resize_pil(image[CELEB_A_ROWS, CELEB_A_COLS], (64, 64))
    out = data.preprocess_image(tf.constant(image), spec, training=False,
                                seed=[i, 0]).numpy()
    assert out.shape == (64, 64, 3)
    diff = np.abs(undequantize(out).astype(int) - by_hand)
    # PIL and TF round a few values differently; nothing else differs.
    assert diff.max() <= 1 and diff.mean() < 0.3
  # Moving the box by a pixel is visible: the check has teeth.
  shifted = _resize_pil(images[0][41:189, 15:163], (64, 64))
  out = data.preprocess_image(tf.constant(images[0]), spec, training=False,
                              seed=[0, 0]).numpy()
  assert np.abs(undequantize(out).astype(int) - shifted).max() > 1


@pytest.mark.parametrize("name", LSUN)
def test_lsun_resize_and_central_crop_by_hand(name, mocked):
  spec = data.DATASETS[name]
  images = mock_tfds.raw_examples(name, spec.eval_split)
  shapes = {image.shape[:2] for image in images}
  assert all(min(s) == 256 for s in shapes)
  assert any(h > w for h, w in shapes) and any(h < w for h, w in shapes)
  for i, image in enumerate(images):
    height, width = image.shape[:2]
    size = _smaller_side_size(height, width, 96)
    assert min(size) == 96
    by_hand = _central(_resize_pil(image, size), 64, 64)
    out = data.preprocess_image(tf.constant(image), spec, training=False,
                                seed=[i, 1]).numpy()
    assert out.shape == (64, 64, 3)
    diff = np.abs(undequantize(out).astype(int) - by_hand)
    assert diff.max() <= 1 and diff.mean() < 0.3


@pytest.mark.parametrize("name", LSUN)
def test_lsun_random_crop_is_a_window_of_the_resized_image(name, mocked):
  spec = data.DATASETS[name]
  images = mock_tfds.raw_examples(name, spec.train_split)[:2]
  for image in images:
    resized = _before_crop(name, image)
    assert min(resized.shape[:2]) == 96
    # The whole resized image agrees with PIL's up to rounding.
    pil = _resize_pil(image, resized.shape[:2])
    assert np.abs(resized.astype(int) - pil).max() <= 1
    offsets, flips = set(), set()
    for seed in range(24):
      out = data.preprocess_image(tf.constant(image), spec, training=True,
                                  seed=[seed, 5]).numpy()
      assert out.shape == (64, 64, 3)
      offset, flipped = _train_match(name, image, out)
      offsets.add(offset)
      flips.add(flipped)
    assert len(offsets) > 12 and flips == {False, True}
    rows = {top for top, _ in offsets}
    cols = {left for _, left in offsets}
    assert len(rows) > 1 and len(cols) > 1
    assert max(rows) <= resized.shape[0] - 64
    assert max(cols) <= resized.shape[1] - 64


def _ramp(shape):
  """A left/right-asymmetric image: brightness grows from left to right."""
  height, width, channels = shape
  ramp = np.linspace(0, 255, width).round().astype(np.uint8)
  return np.broadcast_to(ramp[None, :, None], (height, width, channels)).copy()


def _stored_shape(name):
  if name.startswith("lsun/"):
    return (256, 341, 3)
  if name == "celeb_a":
    return (218, 178, 3)
  return data.DATASETS[name].image_shape


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_flips_only_where_the_spec_says(name):
  spec = data.DATASETS[name]
  image = tf.constant(_ramp(_stored_shape(name)))

  def flipped(training, seed):
    out = data.preprocess_image(image, spec, training=training,
                                seed=[seed, 17]).numpy()
    half = out.shape[1] // 2
    left, right = out[:, :half].mean(), out[:, half:].mean()
    assert abs(left - right) > 20  # the ramp survives crops and resizes
    return left > right

  train_flips = [flipped(True, seed) for seed in range(40)]
  if name in FLIPPED:
    assert 5 < sum(train_flips) < 35
  else:
    assert not any(train_flips)
  assert not any(flipped(False, seed) for seed in range(10))
