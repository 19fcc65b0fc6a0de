"""Thresholds for the outlier scores, from in-distribution images.

`TypicalSet` holds the mean and spread of the bits/dim of in-distribution
images, for Nalisnick et al.'s typicality test. `OutlierCalibration` turns a
score of `tfnvp.ood.scores` (or the typicality) into a decision: its
threshold is the conformal `(1 - false_positive_rate)` quantile of the score
on `n` calibration images, so that an exchangeable in-distribution image
exceeds it with probability at most `false_positive_rate` (and at least
`false_positive_rate - 1 / (n + 1)`).
"""

import collections.abc
import dataclasses
import json
import math
import os
import reprlib

import numpy as np
import tensorflow as tf

from tfnvp.internal.checks import check_finite_vector
from tfnvp.internal.checks import check_fraction
from tfnvp.internal.checks import is_number
from tfnvp.ood.scores import DEFAULT_NUM_SAMPLES
from tfnvp.ood.scores import check_compression
from tfnvp.ood.scores import check_flow_images
from tfnvp.ood.scores import check_samples
from tfnvp.ood.scores import complexity_bits_per_dim
from tfnvp.ood.scores import pixel_bits_per_dim

__all__ = [
    "DEFAULT_CALIBRATION_EXAMPLES",
    "OutlierCalibration",
    "SCORES",
    "TypicalSet",
]

# The scores an `OutlierCalibration` can threshold (larger = more anomalous).
SCORES = ("bits_per_dim", "ood_score", "typicality")

# In-distribution images to calibrate on by default (the first ones of a
# training split): enough for the conformal quantile at false-positive rates
# down to 1e-4, where `OutlierCalibration.estimate` needs `1 / rate - 1`.
DEFAULT_CALIBRATION_EXAMPLES = 10_000

# The scores are float32, so are the constants compared with them.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32(name, value, positive=False):
  """`ValueError` unless `value` is a number (not a `bool`) that is finite
  in float32, and > 0 there if `positive`."""
  try:
    ok = is_number(value) and abs(float(value)) <= _FLOAT32_MAX
  except OverflowError:     # an int beyond float64
    ok = False
  if ok and positive:
    ok = float(np.float32(value)) > 0
  if not ok:
    kind = "float > 0" if positive else "finite float"
    raise ValueError(f"`{name}` must be a {kind} (within float32's range); "
                     f"got {reprlib.repr(value)}.")


def _needed_examples(false_positive_rate):
  """The fewest calibration images for the conformal quantile at this rate:
  `ceil((n + 1) (1 - rate)) <= n`."""
  return max(2, math.ceil(1 / false_positive_rate - 1))


def _score_batches(flow, images, settings, batch_size):
  """NumPy `(bits_per_dim, complexity_bits_per_dim)` of every image of a
  uint8 array or tensor (in batches of `batch_size`) or of an iterable of
  uint8 batches; `settings` = `(compression, num_samples, seed)`."""
  compression, num_samples, seed = settings
  if isinstance(images, np.ndarray) or tf.is_tensor(images):
    images = check_flow_images(flow, images)
    images = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
  elif not isinstance(images, collections.abc.Iterable):
    raise TypeError("`images` must be uint8 images [n, H, W, C] or an "
                    f"iterable of such batches; got {images!r}.")
  score_fn = tf.function(
      lambda x: (pixel_bits_per_dim(flow, x, num_samples, seed),
                 complexity_bits_per_dim(x, compression)),
      input_signature=[tf.TensorSpec([None, *flow.event_shape], tf.uint8)])
  parts = [score_fn(check_flow_images(flow, batch)) for batch in images]
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
    _check_float32("mean", self.mean)
    _check_float32("stddev", self.stddev, positive=True)
    if not is_number(self.num_examples, int) or self.num_examples < 2:
      raise ValueError("`num_examples` must be an int >= 2; got "
                       f"{reprlib.repr(self.num_examples)}.")

  @classmethod
  def from_bits_per_dim(cls, bits_per_dim):
    """The typical set of these in-distribution bits/dim (a vector, >= 2)."""
    values = check_finite_vector("bits_per_dim", bits_per_dim, 2)
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
  than held-out ones, by its train-test gap), and true where the score is
  NaN (an image the model cannot score is not declared typical). Saved as
  JSON by `save` and inside an export by `tfnvp-export`; every field is
  checked when constructed, so a corrupted file is refused by `load`, not
  when scoring.

  Attributes:
    typical_set: the `TypicalSet` of the calibration images;
      `num_examples` of them, enough for `false_positive_rate`.
    thresholds: `{score name: float}` for every name of `SCORES`, finite
      in float32 (`typicality`'s >= 0).
    false_positive_rate: in `(0, 1)`.
    score: the name in `SCORES` that `is_outlier` thresholds.
    compression: zlib level of `complexity_bits_per_dim`.
    num_samples: noise patterns of `pixel_bits_per_dim` (0: pixel centres).
    seed: their seed.
    source: where the images came from (free text, e.g. `"mnist train[:10000]"`).

  Raises:
    ValueError: for a field of another type or out of its range (see
      `pixel_bits_per_dim` and `complexity_bits_per_dim` for the last
      three), or too few `typical_set.num_examples` for
      `false_positive_rate`.
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
    if not isinstance(self.typical_set, TypicalSet):
      raise ValueError("`typical_set` must be a TypicalSet; got "
                       f"{reprlib.repr(self.typical_set)}.")
    if not isinstance(self.thresholds, dict) or set(
        self.thresholds) != set(SCORES):
      raise ValueError(f"`thresholds` must map each of {list(SCORES)} to a "
                       f"finite float; got {reprlib.repr(self.thresholds)}.")
    for name in SCORES:
      _check_float32(f"thresholds[{name!r}]", self.thresholds[name])
    if self.thresholds["typicality"] < 0:
      raise ValueError("`thresholds['typicality']` must be >= 0 (typicality "
                       f"is); got {self.thresholds['typicality']!r}.")
    check_fraction("false_positive_rate", self.false_positive_rate)
    _check_score(self.score)
    check_compression(self.compression)
    check_samples(self.num_samples, self.seed)
    if not isinstance(self.source, str):
      raise ValueError(f"`source` must be a str; got "
                       f"{reprlib.repr(self.source)}.")
    needed = _needed_examples(self.false_positive_rate)
    if self.typical_set.num_examples < needed:
      raise ValueError(
          f"A `false_positive_rate` of {self.false_positive_rate} needs at "
          f"least {needed} calibration images; `typical_set.num_examples` "
          f"is {self.typical_set.num_examples}.")

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
    check_fraction("false_positive_rate", false_positive_rate)
    _check_score(score)
    check_compression(compression)
    check_samples(num_samples, seed)
    bpd, complexity = _score_batches(
        flow, images, (compression, num_samples, seed), batch_size)
    n = bpd.size
    if n < _needed_examples(false_positive_rate):
      raise ValueError(
          f"A false-positive rate of {false_positive_rate} needs at least "
          f"{_needed_examples(false_positive_rate)} calibration images; got "
          f"{n}.")
    needed = math.ceil((n + 1) * (1 - false_positive_rate))
    check_finite_vector("bits_per_dim of the calibration images", bpd, 2)
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
    return self.decide(
        pixel_bits_per_dim(flow, images, self.num_samples, self.seed),
        complexity_bits_per_dim(images, self.compression))

  def decide(self, bits_per_dim, complexity_bits_per_dim):
    """`scores` of images from their measured bits/dim and complexity.

    Args:
      bits_per_dim: float `Tensor` `[n]`, `pixel_bits_per_dim` of the images.
      complexity_bits_per_dim: float `Tensor` `[n]`, their
        `complexity_bits_per_dim`.

    Returns:
      The dictionary of `scores`.
    """
    out = _scores(self.typical_set, bits_per_dim, complexity_bits_per_dim)
    # Not `>`: a NaN score is an outlier.
    out["is_outlier"] = tf.logical_not(out[self.score] <= self.threshold)
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
    out = self.decide(*_score_batches(
        flow, images, (self.compression, self.num_samples, self.seed),
        batch_size))
    return {name: np.asarray(value) for name, value in out.items()}

  def to_json(self):
    """A `dict` for `json.dump`."""
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, value, source="the calibration"):
    """The inverse of `to_json`, checked whole.

    Args:
      value: the decoded JSON: an object with every field (as `to_json`
        writes it), `typical_set` an object of its three fields.
      source: names the value in messages (a file's path).

    Returns:
      An `OutlierCalibration`.

    Raises:
      ValueError: naming `source` and the field, for a value that is not
        an object, a missing or unknown field, or a field that the
        constructor refuses.
    """
    fields = _json_fields(value, cls, source, "")
    typical = _json_fields(fields["typical_set"], TypicalSet, source,
                           "`typical_set`: ")
    try:
      fields["typical_set"] = TypicalSet(**typical)
    except ValueError as err:
      raise ValueError(f"{source} is not a valid OutlierCalibration: "
                       f"`typical_set`: {err}") from None
    try:
      return cls(**fields)
    except ValueError as err:
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


def _json_fields(value, cls, source, where):
  """`value` as a `dict` of exactly the fields of the dataclass `cls`, or a
  `ValueError` naming `source` and what is missing or unknown."""
  names = [field.name for field in dataclasses.fields(cls)]
  problem = None
  if not isinstance(value, dict):
    problem = f"must be a JSON object; got {type(value).__name__}"
  else:
    missing = [name for name in names if name not in value]
    unknown = sorted(str(name) for name in value if name not in names)
    if missing:
      problem = f"lacks the fields {', '.join(missing)}"
    elif unknown:
      problem = f"has unknown fields {', '.join(unknown)}"
  if problem:
    raise ValueError(f"{source} is not a valid OutlierCalibration: {where}"
                     f"it {problem} (the fields are {', '.join(names)}).")
  return dict(value)
