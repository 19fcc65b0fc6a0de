"""`PolyakAverage`: a bias-corrected moving average of a model's weights."""

import keras
import tensorflow as tf

from tfnvp.internal.checks import is_number

__all__ = ["PolyakAverage"]


@keras.saving.register_keras_serializable(package="tfnvp")
class PolyakAverage(keras.layers.Layer):
  """An exponential moving average of variables, bias-corrected as Adam's.

  Holds one non-trainable shadow variable per averaged variable (`m_t`,
  in `shadows`) and the number of updates, `count`. Each
  `update(variables)` folds their current values `v_t` in:

  ```none
  m_0 = 0
  m_t = decay * m_{t-1} + (1 - decay) * v_t
  average_t = m_t / (1 - decay^t)          (`averages()`)
  ```

  so after one update the average is `v_1` exactly, and it never mixes in
  the zeros it starts from or values from before the first update (e.g. the
  initial values of Glow's actnorms, which the first training batch sets).

  Under a `tf.distribute` strategy, `update` may run in replica context
  (a `train_step`): it enters one cross-replica merge and updates each
  device's copy of an average from the same device's copy of its variable,
  as a Keras optimizer applies gradients. The averaged variables must be
  mirrored and equal on every replica (they are after an optimizer's
  synchronized update), so the copies of the averages stay equal without
  any communication. `count` and the averages have aggregation
  `"only_first_replica"`.

  The layer does not refer to the variables it averages (so it serializes
  on its own): the caller passes the same list, in the same order, to every
  `update`.

  Args:
    decay: Python `float` in `[0, 1)`: the weight of the past.
    shapes: the shapes of the averaged variables, a list of lists of ints
      (kept as a tuple of tuples).
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`: that of
      the averaged variables).

  Raises:
    ValueError: for a `decay` outside `[0, 1)` or a shape that is not a list
      of ints >= 0; the message names the argument and the value.

  #### Examples

  ```python
  average = PolyakAverage(0.999, [v.shape for v in layer.trainable_variables])
  average.update(layer.trainable_variables)        # after each optimizer step
  values = average.averages()                      # tensors, in that order
  ```
  """

  def __init__(self, decay, shapes, **kwargs):
    super().__init__(**kwargs)
    if not is_number(decay) or not 0.0 <= decay < 1.0:
      raise ValueError(f"`decay` must be a number in [0, 1); got {decay!r}.")
    try:
      self.shapes = tuple(tuple(shape) for shape in shapes)
    except TypeError:
      self.shapes = None
    if self.shapes is None or not all(
        is_number(d, int) and d >= 0 for shape in self.shapes for d in shape):
      raise ValueError("`shapes` must be a list of shapes (lists of ints >= "
                       f"0); got {shapes!r}.")
    self.decay = float(decay)
    self.count = self.add_weight(
        shape=(), dtype="int64", initializer="zeros", trainable=False,
        aggregation="only_first_replica", name="count")
    # Named attributes, not a list: TF checkpoints track a Keras 3 layer's
    # attributes but not the lists it holds (keras-team/keras#18398).
    for i, shape in enumerate(self.shapes):
      setattr(self, f"shadow_{i}", self.add_weight(
          shape=shape, initializer="zeros", trainable=False,
          aggregation="only_first_replica", name=f"shadow_{i}"))
    self.built = True  # every weight exists: nothing for Keras to build

  @property
  def shadows(self):
    """The variables `m_t`, in the order of `shapes`."""
    return [getattr(self, f"shadow_{i}") for i in range(len(self.shapes))]

  def _check(self, variables):
    shapes = tuple(tuple(v.shape) for v in variables)
    if shapes != self.shapes:
      raise ValueError(f"The variables' shapes {shapes} are not the averaged "
                       f"ones, {self.shapes}.")

  def update(self, variables):
    """Folds the current values of `variables` into the averages.

    Args:
      variables: the averaged variables, in the order of `shapes`.

    Raises:
      ValueError: if their shapes are not `shapes`.
    """
    self._check(variables)
    tf.__internal__.distribute.interim.maybe_merge_call(
        self._update, tf.distribute.get_strategy(),
        [v.value for v in variables])

  def _update(self, strategy, values):
    decay = self.decay

    def fold(average, value):
      return average.assign(decay * average + (1.0 - decay) * value)

    for average, value in zip(self.shadows, values):
      strategy.extended.update(average.value, fold, args=(value,),
                               group=False)
    strategy.extended.update(self.count.value, lambda c: c.assign_add(1),
                             group=False)

  def averages(self):
    """The bias-corrected averages `m_t / (1 - decay^t)`, as tensors.

    Not defined before the first `update` (`count == 0`): they are `NaN`.
    """
    dtype = tf.as_dtype(self.variable_dtype)
    correction = 1.0 - tf.pow(tf.constant(self.decay, dtype),
                              tf.cast(self.count, dtype))
    return [tf.convert_to_tensor(a) / correction for a in self.shadows]

  def get_config(self):
    config = super().get_config()
    config.update(decay=self.decay, shapes=[list(s) for s in self.shapes])
    return config
