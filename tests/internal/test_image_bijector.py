"""tfnvp.internal.image_bijector: the rank check, the greedy cache of the
augmented bijectors and the training mode."""

import numpy as np
import pytest
import tensorflow as tf

from tfnvp.internal.image_bijector import AugmentedImageBijector
from tfnvp.internal.image_bijector import TrainingModeBijector


class _Doubling(TrainingModeBijector):
  """`forward(x) = 2 x`, counting the calls of its augmented methods."""

  def __init__(self, training=False, validate_args=False, name="doubling"):
    parameters = dict(locals())
    self.calls = []
    super().__init__(training=training, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _log_det(self, x):
    return tf.math.log(2.0) * tf.cast(tf.reduce_prod(tf.shape(x)[-3:]),
                                      x.dtype)

  def _augmented_forward(self, x):
    self.calls.append("forward")
    self._check_rank(x)
    return 2.0 * x, {"ildj": -self._log_det(x)}

  def _augmented_inverse(self, y):
    self.calls.append("inverse")
    self._check_rank(y)
    return y / 2.0, {"ildj": -self._log_det(y)}


def test_forward_and_its_log_det_compute_once():
  bijector = _Doubling()
  x = tf.ones([2, 3, 4, 1])
  y = bijector.forward(x)
  fldj = bijector.forward_log_det_jacobian(x, event_ndims=3)
  np.testing.assert_allclose(fldj, 12 * np.log(2.0), rtol=1e-6)
  assert bijector.inverse(y) is x                   # the cache maps back
  np.testing.assert_allclose(
      bijector.inverse_log_det_jacobian(y, event_ndims=3), -fldj)
  assert bijector.calls == ["forward"]
  z = tf.ones([2, 3, 4, 1])
  np.testing.assert_allclose(bijector.inverse(z), z / 2.0)
  assert bijector.calls == ["forward", "inverse"]


def test_the_training_mode_and_the_parameters():
  assert _Doubling().is_constant_jacobian
  trained = _Doubling(training=True)
  assert trained.training and not trained.is_constant_jacobian
  assert not trained.copy(training=False).training
  assert trained.experimental_batch_shape() == []


def test_the_rank_check_names_the_shape():
  with pytest.raises(ValueError, match=r"doubling: input must have rank >= 3 "
                     r"\(\[\.\.\., H, W, C\]\); got shape \(4, 1\)"):
    _Doubling().forward(tf.ones([4, 1]))


def test_a_subclass_must_implement_both_directions():
  class _ForwardOnly(AugmentedImageBijector):

    def __init__(self):
      super().__init__(forward_min_event_ndims=3, parameters={},
                       name="forward_only")

    def _augmented_forward(self, x):
      return x, {"ildj": 0.0}

  with pytest.raises(TypeError, match="_augmented_inverse"):
    _ForwardOnly()
