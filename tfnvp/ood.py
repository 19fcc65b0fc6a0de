"""Out-of-distribution scores of a flow over 8-bit images.

A flow's likelihood alone is a poor outlier detector: flows trained on
Fashion-MNIST give MNIST digits a *higher* likelihood than Fashion-MNIST's
own test images, and CIFAR-10 models likewise SVHN [1]. Two corrections
that need no second model:

```none
bits_per_dim(x)             = -log2 P(x) / D,  P(x) = integral of p(x + u)
                              over u in [0, 1)^D        (8-bit image x)
complexity_bits_per_dim(x)  = 8 * len(PNG(x)) / D         (lossless)
ood_score(x)                = bits_per_dim(x) - complexity_bits_per_dim(x)
typicality(x)               = |bits_per_dim(x) - mu| / sigma
```

`bits_per_dim` is the probability of the 8-bit image under the flow's
dequantized density (what training maximizes a bound of, and what the
papers' bits/dim measure), estimated with `K` fixed uniform noise patterns:
`P(x) ~ mean_k p(x + u_k)`. The density at the pixel centres, `p(x + 1/2)`
(`num_samples=0`), is a poor proxy: a flow's density varies within a pixel's
interval, and on MNIST digits it stays at the Fashion-MNIST level while
`P(x)` is far higher (BENCHMARKS.md).

`ood_score` is the input-complexity correction of Serra et al. [2]: the
likelihood ratio, in bits, of the flow against a generic lossless
compressor, which cancels the part of the likelihood that measures how
simple an image is (its flat background) rather than how much it looks like
the training data. Larger is more anomalous. `typicality` is the test of
Nalisnick et al. [3]: in high dimensions a model's samples have bits/dim
close to its entropy `mu`, estimated (with the spread `sigma`) on
in-distribution images by `TypicalSet`, so an input far from `mu` on
*either* side is atypical, even one more likely than the data. Its batch
form, `TypicalSet.batch_typicality`, tests the mean bits/dim of `M` inputs
assumed to come from one source, with a spread `sigma / sqrt(M)`.

When each fails: raw `bits_per_dim` flags complex outliers (Fashion-MNIST
for an MNIST model) and misses simple ones; `ood_score` assumes the flow
models the in-distribution data better than PNG does, and can miss an
outlier that happens to compress as badly as the flow codes it;
`typicality` on single images misses outliers whose bits/dim falls inside
the in-distribution spread, and gains power with the batch size `M`.

`OutlierCalibration` turns a score into a decision: its threshold is the
conformal `(1 - false_positive_rate)` quantile of the score on `n`
calibration images, so that an exchangeable in-distribution image exceeds
it with probability at most `false_positive_rate` (and at least
`false_positive_rate - 1 / (n + 1)`).

#### Examples

```python
flow = tfnvp.runs.load_run("runs/fashion").flow
score = tfnvp.ood.ood_score(flow, uint8_images)            # [n], float32
calibration = tfnvp.ood.OutlierCalibration.estimate(flow, train_images)
scores = calibration.scores(flow, uint8_images)  # + typicality, is_outlier
tfnvp.ood.auroc(scores_in["ood_score"], scores_out["ood_score"])
```

#### References

[1]: Eric Nalisnick, Akihiro Matsukawa, Yee Whye Teh, Dilan Gorur and
     Balaji Lakshminarayanan. Do deep generative models know what they don't
     know? ICLR 2019. https://arxiv.org/abs/1810.09136

[2]: Joan Serra, David Alvarez, Vicenc Gomez, Olga Slizovskaia, Jose F. Nunez
     and Jordi Luque. Input complexity and out-of-distribution detection with
     likelihood-based generative models. ICLR 2020.
     https://arxiv.org/abs/1909.11480

[3]: Eric Nalisnick, Akihiro Matsukawa, Yee Whye Teh and Balaji
     Lakshminarayanan. Detecting out-of-distribution inputs to deep
     generative models using typicality. arXiv 2019.
     https://arxiv.org/abs/1906.02994
"""

import collections.abc
import dataclasses
import json
import math
import os

import numpy as np
import tensorflow as tf

from tfnvp.metrics import bits_per_dim as _bits_per_dim

__all__ = [
    "DEFAULT_CALIBRATION_EXAMPLES",
    "DEFAULT_NUM_SAMPLES",
    "OutlierCalibration",
    "SCORES",
    "TypicalSet",
    "auroc",
    "complexity_bits_per_dim",
    "detection_metrics",
    "false_positive_rate_at",
    "ood_score",
    "pixel_bits_per_dim",
]

# The scores an `OutlierCalibration` can threshold (larger = more anomalous).
SCORES = ("bits_per_dim", "ood_score", "typicality")

# Noise patterns of `pixel_bits_per_dim` by default.
DEFAULT_NUM_SAMPLES = 4

# In-distribution images to calibrate on by default (the first ones of a
# training split): enough for the conformal quantile at false-positive rates
# down to 1e-4, where `OutlierCalibration.estimate` needs `1 / rate - 1`.
DEFAULT_CALIBRATION_EXAMPLES = 10_000

# zlib's levels, as `tf.io.encode_png` takes them (-1: zlib's default, 6).
_COMPRESSION_LEVELS = range(-1, 10)


def _check_images(images, name="images"):
  """`images` as a uint8 tensor of static rank 4 with 1 to 4 channels."""
  if isinstance(images, np.ndarray) and images.dtype != np.uint8:
    raise TypeError(f"`{name}` must be uint8 pixels in [0, 255]; got a "
                    f"{images.dtype.name} array.")
  images = tf.convert_to_tensor(images)
  if images.dtype != tf.uint8:
    raise TypeError(f"`{name}` must be uint8 pixels in [0, 255]; got dtype "
                    f"{images.dtype.name}. Round and cast 8-bit data with "
                    "tf.cast(x, tf.uint8); scores are defined on the "
                    "8-bit values, not on dequantized ones.")
  shape = images.shape
  if shape.rank != 4 or (shape[-1] is not None and not 1 <= shape[-1] <= 4):
    raise ValueError(f"`{name}` must be [n, H, W, C] with C in 1..4 (PNG's "
                     f"grey, grey+alpha, RGB, RGBA); got shape {shape}.")
  return images


def _check_compression(compression):
  if not isinstance(compression, int) or isinstance(compression, bool) or (
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
    ValueError: for another rank, channel count or `compression`.

  #### Examples

  ```python
  images = tf.zeros([2, 28, 28, 1], tf.uint8)
  tfnvp.ood.complexity_bits_per_dim(images)   # a blank image: ~0.7
  ```
  """
  _check_compression(compression)
  images = _check_images(images)
  num_dims = tf.cast(tf.reduce_prod(tf.shape(images)[1:]), tf.float32)
  lengths = tf.map_fn(
      lambda image: tf.strings.length(
          tf.io.encode_png(image, compression=compression)),
      images, fn_output_signature=tf.int32)
  return 8.0 * tf.cast(lengths, tf.float32) / num_dims


def _check_flow_images(flow, images):
  images = _check_images(images)
  event = tuple(flow.event_shape)
  if not images.shape[1:].is_compatible_with(event):
    raise ValueError(f"`images` must be [n, {', '.join(map(str, event))}] "
                     f"for this flow; got shape {images.shape}.")
  return images


def _check_samples(num_samples, seed):
  if not isinstance(num_samples, int) or isinstance(num_samples, bool) or (
      num_samples < 0):
    raise ValueError("`num_samples` must be an int >= 0 (0: the pixel "
                     f"centres); got {num_samples!r}.")
  if not isinstance(seed, int) or isinstance(seed, bool):
    raise ValueError(f"`seed` must be an int; got {seed!r}.")


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
    num_samples: Python `int >= 0`, `K`; the flow runs on `K n` images.
    seed: Python `int`, of the noise patterns.

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
  _check_samples(num_samples, seed)
  images = _check_flow_images(flow, images)
  x = tf.cast(images, flow.dtype)
  if num_samples == 0:
    return tf.cast(_bits_per_dim(flow, x + tf.constant(0.5, flow.dtype)),
                   tf.float32)
  event = list(flow.event_shape)
  noise = tf.random.stateless_uniform([num_samples, 1, *event], [seed, 0],
                                      dtype=flow.dtype)
  # As `tfnvp.data.dequantize`: x + u stays below x + 1 after rounding.
  shifted = tf.minimum(x + noise, tf.math.nextafter(x + 1.0, x))
  log_probs = tf.reshape(flow.log_prob(tf.reshape(shifted, [-1, *event])),
                         [num_samples, -1])
  log_p = tf.reduce_logsumexp(log_probs, axis=0) - tf.math.log(
      tf.constant(num_samples, flow.dtype))
  return tf.cast(-log_p / (math.prod(event) * math.log(2.0)), tf.float32)


def ood_score(flow, images, compression=9,
              num_samples=DEFAULT_NUM_SAMPLES, seed=0):
  """Serra et al.'s input-complexity corrected score: larger = anomalous.

  ```none
  ood_score(x) = pixel_bits_per_dim(flow, x) - complexity_bits_per_dim(x)
  ```

  It is `-log2(p(x) / q(x)) / D` with `q` the PNG code's implicit model:
  negative where the flow codes `x` better than PNG does (typical of its
  training data), larger where the flow does worse than a generic
  compressor. See the module docstring for when it fails.

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


def _finite_vector(values, name, minimum_size):
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 1 or values.size < minimum_size:
    raise ValueError(f"`{name}` must be a vector of at least {minimum_size} "
                     f"values; got shape {values.shape}.")
  bad = ~np.isfinite(values)
  if bad.any():
    raise ValueError(f"`{name}` must be finite; got {int(bad.sum())} NaN or "
                     f"inf of {values.size} values.")
  return values


def _score_batches(flow, images, settings, batch_size):
  """NumPy `(bits_per_dim, complexity_bits_per_dim)` of every image of a
  uint8 array or tensor (in batches of `batch_size`) or of an iterable of
  uint8 batches; `settings` = `(compression, num_samples, seed)`."""
  compression, num_samples, seed = settings
  if isinstance(images, np.ndarray) or tf.is_tensor(images):
    images = _check_flow_images(flow, images)
    images = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
  elif not isinstance(images, collections.abc.Iterable):
    raise TypeError("`images` must be uint8 images [n, H, W, C] or an "
                    f"iterable of such batches; got {images!r}.")
  score_fn = tf.function(
      lambda x: (pixel_bits_per_dim(flow, x, num_samples, seed),
                 complexity_bits_per_dim(x, compression)),
      input_signature=[tf.TensorSpec([None, *flow.event_shape], tf.uint8)])
  parts = [score_fn(_check_flow_images(flow, batch)) for batch in images]
  if not parts:
    raise ValueError("`images` holds no image.")
  return tuple(np.concatenate([p[i].numpy() for p in parts])
               for i in (0, 1))


@dataclasses.dataclass(frozen=True)
class TypicalSet:
  """The typical set of a model, as bits/dim: mean `mu`, spread `sigma`.

  Nalisnick et al.'s typicality test [3]: with `mu` the mean bits/dim of
  in-distribution images (an estimate of the model's entropy rate) and
  `sigma` their standard deviation,

  ```none
  typicality(x)            = |bpd(x) - mu| / sigma                 per image
  batch_typicality(x_1..M) = |mean_m bpd(x_m) - mu| / (sigma / sqrt(M))
  p_value(x_1..M)          = erfc(batch_typicality / sqrt(2))
  ```

  `p_value` is two-sided under the normal approximation of the batch mean
  (the central limit theorem: good for `M` of ten or more; single images'
  bits/dim are skewed, so threshold per-image `typicality` with an
  `OutlierCalibration`, which uses its empirical quantile instead).

  Attributes:
    mean: `mu`, bits/dim.
    stddev: `sigma > 0`, bits/dim.
    num_examples: how many images the estimate used.

  #### References

  [3]: Eric Nalisnick, Akihiro Matsukawa, Yee Whye Teh and Balaji
       Lakshminarayanan. Detecting out-of-distribution inputs to deep
       generative models using typicality. arXiv 2019.
       https://arxiv.org/abs/1906.02994
  """

  mean: float
  stddev: float
  num_examples: int

  def __post_init__(self):
    for name in ("mean", "stddev"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(
          value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite float; got {value!r}.")
    if self.stddev <= 0:
      raise ValueError(f"`stddev` must be > 0; got {self.stddev!r}.")
    if isinstance(self.num_examples, bool) or not isinstance(
        self.num_examples, int) or self.num_examples < 2:
      raise ValueError("`num_examples` must be an int >= 2; got "
                       f"{self.num_examples!r}.")

  @classmethod
  def from_bits_per_dim(cls, bits_per_dim):
    """The typical set of these in-distribution bits/dim (a vector, >= 2)."""
    values = _finite_vector(bits_per_dim, "bits_per_dim", 2)
    stddev = float(np.std(values, ddof=1))
    if stddev <= 0:
      raise ValueError("`bits_per_dim` must not all be equal (the spread "
                       f"would be 0); got {values.size} values of "
                       f"{values[0]!r}.")
    return cls(float(np.mean(values)), stddev, int(values.size))

  def typicality(self, bits_per_dim):
    """Per image: `|bpd - mean| / stddev`, a `Tensor` of `bits_per_dim`'s
    shape and float dtype."""
    bpd = tf.convert_to_tensor(bits_per_dim)
    # tf.constant, not tf.cast: a Python float cast goes through float32.
    return tf.abs(bpd - tf.constant(self.mean, bpd.dtype)) / tf.constant(
        self.stddev, bpd.dtype)

  def batch_typicality(self, bits_per_dim, axis=-1):
    """The batch statistic over `axis` (`M` images): a z-score."""
    bpd = tf.convert_to_tensor(bits_per_dim)
    size = tf.cast(tf.shape(bpd)[axis], bpd.dtype)
    return tf.abs(tf.reduce_mean(bpd, axis=axis) - tf.constant(
        self.mean, bpd.dtype)) / (tf.constant(self.stddev, bpd.dtype) /
                                  tf.sqrt(size))

  def p_value(self, bits_per_dim, axis=-1):
    """Two-sided p-value that a batch (over `axis`) is typical."""
    z = self.batch_typicality(bits_per_dim, axis)
    return tf.math.erfc(z / tf.constant(math.sqrt(2.0), z.dtype))


def _check_score(score):
  if score not in SCORES:
    raise ValueError(f"`score` must be one of {list(SCORES)}; got "
                     f"{score!r}.")


def _scores(typical_set, bpd, complexity):
  """The scores of images of bits/dim `bpd` and complexity `complexity`."""
  return {"bits_per_dim": bpd, "complexity_bits_per_dim": complexity,
          "ood_score": bpd - complexity,
          "typicality": typical_set.typicality(bpd)}


@dataclasses.dataclass(frozen=True)
class OutlierCalibration:
  """Score thresholds at a false-positive rate, from in-distribution images.

  `thresholds[s]` is the conformal `(1 - false_positive_rate)` quantile of
  score `s` on the `num_examples` calibration images: their
  `ceil((n + 1) (1 - false_positive_rate))`-th smallest value. `is_outlier`
  is `scores[score] > thresholds[score]`, true for a fraction of at most
  `false_positive_rate` of in-distribution images (exchangeable with the
  calibration ones; images the model was trained on score a little lower
  than held-out ones, by its train-test gap). Saved as JSON by `save` and
  inside an export by `tfnvp-export`.

  Attributes:
    typical_set: the `TypicalSet` of the calibration images.
    thresholds: `{score name: float}` for every name of `SCORES`.
    false_positive_rate: in `(0, 1)`.
    score: the name in `SCORES` that `is_outlier` thresholds.
    compression: zlib level of `complexity_bits_per_dim`.
    num_samples: noise patterns of `pixel_bits_per_dim` (0: pixel centres).
    seed: their seed.
    source: where the images came from (free text, e.g. `"mnist train[:10000]"`).
  """

  typical_set: TypicalSet
  thresholds: dict
  false_positive_rate: float
  score: str = "ood_score"
  compression: int = 9
  num_samples: int = DEFAULT_NUM_SAMPLES
  seed: int = 0
  source: str = ""

  def __post_init__(self):
    _check_score(self.score)
    if not isinstance(self.thresholds, dict) or set(
        self.thresholds) != set(SCORES) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and
            math.isfinite(v) for v in self.thresholds.values()):
      raise ValueError(f"`thresholds` must map each of {list(SCORES)} to a "
                       f"finite float; got {self.thresholds!r}.")
    _check_rate(self.false_positive_rate)
    _check_compression(self.compression)
    _check_samples(self.num_samples, self.seed)
    if not isinstance(self.typical_set, TypicalSet):
      raise ValueError("`typical_set` must be a TypicalSet; got "
                       f"{self.typical_set!r}.")

  @classmethod
  def estimate(cls, flow, images, false_positive_rate=0.05,
               score="ood_score", compression=9,
               num_samples=DEFAULT_NUM_SAMPLES, seed=0, batch_size=256,
               source=""):
    """Scores the in-distribution `images` and sets the thresholds.

    Args:
      flow: see `pixel_bits_per_dim`.
      images: uint8 `[n, H, W, C]` (a NumPy array or a tensor), or any
        iterable of such batches (a `tf.data.Dataset` such as
        `tfnvp.data.pixel_batches`, a list, a generator); `n >= 2` in all
        and at least `1 / false_positive_rate - 1` (else the quantile is
        undefined).
      false_positive_rate: in `(0, 1)`.
      score: the score of `is_outlier`, a name of `SCORES`.
      compression: see `complexity_bits_per_dim`.
      num_samples: see `pixel_bits_per_dim`.
      seed: see `pixel_bits_per_dim`.
      batch_size: images per `log_prob` call, for an array.
      source: recorded in `source`.

    Returns:
      An `OutlierCalibration`.

    Raises:
      TypeError: images that are not uint8 or not iterable.
      ValueError: bad shapes, rates, names or too few images; non-finite
        bits/dim (the flow and these images do not fit together).

    #### Examples

    ```python
    train = tfnvp.data.pixel_batches("mnist", "train", num_examples=10_000)
    calibration = tfnvp.OutlierCalibration.estimate(
        flow, train, false_positive_rate=0.05, source="mnist train[:10000]")
    ```
    """
    _check_rate(false_positive_rate)
    _check_score(score)
    _check_compression(compression)
    _check_samples(num_samples, seed)
    bpd, complexity = _score_batches(
        flow, images, (compression, num_samples, seed), batch_size)
    n = bpd.size
    needed = math.ceil((n + 1) * (1 - false_positive_rate))
    if needed > n or n < 2:
      raise ValueError(
          f"A false-positive rate of {false_positive_rate} needs at least "
          f"{max(2, math.ceil(1 / false_positive_rate - 1))} calibration "
          f"images; got {n}.")
    _finite_vector(bpd, "bits_per_dim of the calibration images", 2)
    typical_set = TypicalSet.from_bits_per_dim(bpd)
    values = _scores(typical_set, bpd, complexity)
    thresholds = {name: float(np.sort(np.asarray(values[name]))[needed - 1])
                  for name in SCORES}
    return cls(typical_set, thresholds, float(false_positive_rate), score,
               compression, num_samples, seed, source)

  @property
  def threshold(self):
    """The threshold of `score`."""
    return self.thresholds[self.score]

  def scores(self, flow, images):
    """Every score of uint8 `images` `[n, H, W, C]` and the decision.

    Returns:
      `{"bits_per_dim", "complexity_bits_per_dim", "ood_score",
      "typicality"}` float32 `[n]` and `"is_outlier"` bool `[n]`.
    """
    return self._decide(
        pixel_bits_per_dim(flow, images, self.num_samples, self.seed),
        complexity_bits_per_dim(images, self.compression))

  def _decide(self, bpd, complexity):
    out = _scores(self.typical_set, bpd, complexity)
    out["is_outlier"] = out[self.score] > self.threshold
    return out

  def evaluate(self, flow, images, batch_size=256):
    """`scores` of many images, as NumPy arrays.

    Args:
      flow: see `pixel_bits_per_dim`.
      images: as for `estimate`.
      batch_size: images per `log_prob` call, for an array.

    Returns:
      `{name: np.ndarray [n]}`, the keys of `scores`.
    """
    out = self._decide(*_score_batches(
        flow, images, (self.compression, self.num_samples, self.seed),
        batch_size))
    return {name: np.asarray(value) for name, value in out.items()}

  def to_json(self):
    """A `dict` for `json.dump`."""
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, value, source="the calibration"):
    """The inverse of `to_json`; `ValueError` naming `source` if invalid."""
    try:
      fields = dict(value)
      fields["typical_set"] = TypicalSet(**fields["typical_set"])
      return cls(**fields)
    except (TypeError, KeyError, ValueError) as err:
      raise ValueError(f"{source} is not a valid OutlierCalibration: "
                       f"{err}") from None

  def save(self, path):
    """Writes the JSON to `path` (a temporary file renamed into place)."""
    staging = f"{path}.tmp"
    with open(staging, "w", encoding="utf-8") as f:
      json.dump(self.to_json(), f, indent=1)
      f.write("\n")
    os.replace(staging, path)

  @classmethod
  def load(cls, path):
    """Reads `save`'s JSON; `ValueError` naming `path` if it is corrupted."""
    try:
      with open(path, encoding="utf-8") as f:
        value = json.load(f)
    except ValueError as err:
      raise ValueError(f"{path!r} is not valid JSON ({err}).") from None
    return cls.from_json(value, repr(path))


def _check_rate(rate, name="false_positive_rate"):
  if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (
      0 < rate < 1):
    raise ValueError(f"`{name}` must be a float in (0, 1); got {rate!r}.")


def auroc(in_scores, out_scores):
  """Area under the ROC curve, outliers the positive class.

  `P(s_out > s_in) + P(s_out == s_in) / 2` over all pairs (Mann-Whitney),
  exact. 1 separates perfectly; 0.5 is chance; below 0.5 the score ranks
  the outliers as *more* typical than the data.

  Args:
    in_scores: vector of in-distribution scores (larger = more anomalous).
    out_scores: vector of outlier scores.

  Returns:
    A Python `float`.

  Raises:
    ValueError: empty or non-finite scores.
  """
  inside = _finite_vector(in_scores, "in_scores", 1)
  outside = _finite_vector(out_scores, "out_scores", 1)
  values = np.concatenate([inside, outside])
  order = np.argsort(values, kind="mergesort")
  ranks = np.empty(values.size)
  ranks[order] = np.arange(1, values.size + 1)
  # Average ranks over ties.
  _, inverse, counts = np.unique(values, return_inverse=True,
                                 return_counts=True)
  sums = np.bincount(inverse, weights=ranks)
  ranks = (sums / counts)[inverse]
  rank_sum = ranks[inside.size:].sum()
  n_in, n_out = inside.size, outside.size
  return float((rank_sum - n_out * (n_out + 1) / 2) / (n_in * n_out))


def false_positive_rate_at(in_scores, out_scores, true_positive_rate=0.95):
  """The fraction of in-distribution scores at or above the threshold that
  flags `true_positive_rate` of the outliers.

  The threshold is the largest `t` with `mean(out_scores >= t) >=
  true_positive_rate` (the `ceil(true_positive_rate * n_out)`-th largest
  outlier score).

  Returns:
    A Python `float` in `[0, 1]`; lower is better.

  Raises:
    ValueError: empty or non-finite scores, a rate outside `(0, 1)`.
  """
  _check_rate(true_positive_rate, "true_positive_rate")
  inside = _finite_vector(in_scores, "in_scores", 1)
  outside = np.sort(_finite_vector(out_scores, "out_scores", 1))[::-1]
  threshold = outside[math.ceil(true_positive_rate * outside.size) - 1]
  return float(np.mean(inside >= threshold))


def detection_metrics(calibration, inside, outside, true_positive_rate=0.95):
  """How well each score of `SCORES` separates outliers from the data.

  Args:
    calibration: the `OutlierCalibration` whose thresholds to apply.
    inside: `OutlierCalibration.evaluate` of held-out in-distribution
      images (negatives).
    outside: the same of outliers (positives).
    true_positive_rate: of `false_positive_rate_at`.

  Returns:
    `{score: {"auroc", "fpr_at_tpr", "flagged_in", "flagged_out"}}`:
    `flagged_*` are the fractions above the score's threshold (`flagged_in`
    is the false-positive rate on `inside`, `flagged_out` the true-positive
    rate).
  """
  table = {}
  for name in SCORES:
    threshold = calibration.thresholds[name]
    table[name] = {
        "auroc": auroc(inside[name], outside[name]),
        "fpr_at_tpr": false_positive_rate_at(inside[name], outside[name],
                                             true_positive_rate),
        "flagged_in": float(np.mean(inside[name] > threshold)),
        "flagged_out": float(np.mean(outside[name] > threshold))}
  return table
