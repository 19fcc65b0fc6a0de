"""Bases of tfnvp's bijectors on `[..., H, W, C]` image events."""

import abc

from tensorflow_probability import bijectors as tfb
from tensorflow_probability.python.internal import cache_util

__all__ = [
    "AugmentedImageBijector",
    "ImageBijector",
    "TrainingModeBijector",
]


class ImageBijector(tfb.Bijector):
  """A `tfb.Bijector` on `[..., H, W, C]` events with no tensor parameters.

  Its parameters (channel counts, Keras layers, functions) are no tensors
  with a batch shape, so `_parameter_properties` is empty and the batch
  shape is `[]`. Subclasses pass `forward_min_event_ndims=3` to
  `__init__` and call `_check_rank` on their inputs.
  """

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def _check_rank(self, x):
    """`ValueError` naming the shape if `x` has a static rank below 3."""
    if x.shape.rank is not None and x.shape.rank < 3:
      raise ValueError(f"{self.name}: input must have rank >= 3 "
                       f"([..., H, W, C]); got shape {x.shape}.")


class AugmentedImageBijector(ImageBijector):
  """An `ImageBijector` that computes its output and log-det together.

  Subclasses implement `_augmented_forward(x)` and `_augmented_inverse(y)`,
  which return `(output, {"ildj": ildj})`, `ildj` the inverse
  log-det-Jacobian of the direction's input:

  ```none
  _augmented_forward(x) = (forward(x), {"ildj": -forward_log_det_jacobian(x)})
  _augmented_inverse(y) = (inverse(y), {"ildj": inverse_log_det_jacobian(y)})
  ```

  TFP's greedy bijector cache (as `tfb.FFJORD` uses it) keeps the `ildj`
  next to the output, so `forward` followed by `forward_log_det_jacobian` on
  the same tensor (as in `TransformedDistribution.log_prob`) computes both
  once, and a log-det that depends on what `forward` computed (batch
  statistics, a data-dependent initialization) is the one of that output.
  `forward`, `inverse` and both log-dets delegate to the two methods; a
  subclass may override a log-det that it computes more cheaply alone.
  """

  _cache = cache_util.BijectorCacheWithGreedyAttrs(
      forward_name="_augmented_forward", inverse_name="_augmented_inverse")

  @abc.abstractmethod
  def _augmented_forward(self, x):
    """`(forward(x), {"ildj": -forward_log_det_jacobian(x)})`."""

  @abc.abstractmethod
  def _augmented_inverse(self, y):
    """`(inverse(y), {"ildj": inverse_log_det_jacobian(y)})`."""

  def _forward(self, x):
    return self._augmented_forward(x)[0]

  def _inverse(self, y):
    return self._augmented_inverse(y)[0]

  def _forward_log_det_jacobian(self, x):
    return -self._augmented_forward(x)[1]["ildj"]

  def _inverse_log_det_jacobian(self, y):
    return self._augmented_inverse(y)[1]["ildj"]


class TrainingModeBijector(AugmentedImageBijector):
  """An `AugmentedImageBijector` with a training and an inference mode.

  With `training=True`, `forward` computes from the batch it is given
  (batch statistics, a data-dependent initialization) and may update
  variables; the cache keeps the log-det of that very computation. With
  `training=False` the bijector is a fixed map of the current variables,
  with a constant Jacobian. Subclasses pass `training` to `__init__`.
  """

  def __init__(self, training, validate_args, parameters, name):
    self._training = bool(training)
    super().__init__(forward_min_event_ndims=3,
                     is_constant_jacobian=not self._training,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @property
  def training(self):
    """Whether `forward` computes from its batch (Python `bool`)."""
    return self._training
