"""The learning-rate schedule of a training run: warm-up, then a decay."""

import math

import keras
import tensorflow as tf

from tfnvp.internal.checks import check_choice
from tfnvp.internal.checks import check_int
from tfnvp.internal.checks import check_number

__all__ = ["LR_SCHEDULES", "WarmupDecaySchedule"]

# The decays after the warm-up.
LR_SCHEDULES = ("constant", "cosine", "exponential")


@keras.saving.register_keras_serializable(package="tfnvp")
class WarmupDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
  """A linear warm-up, then a constant, cosine or exponential decay.

  Keras calls the schedule with `step`, the number of updates applied so
  far; the rate is that of update `s = step + 1`:

  ```none
  W = warmup_steps, T = total_steps, f = final_fraction
  p = min(1, max(0, (s - W) / (T - W)))            (0 during the warm-up)
  rate = learning_rate * min(1, s / W) * g(p)      (min(1, s / W) = 1 if W = 0)
  g(p) = 1                                         decay "constant"
         f + (1 - f) * (1 + cos(pi * p)) / 2       decay "cosine"
         f^p                                       decay "exponential"
  ```

  The rate rises linearly to `learning_rate` at update `W`, then decays to
  `learning_rate * f` at update `T` (the last of a run of `T` steps) and
  stays there. A resumed run continues the same schedule: `step` is the
  optimizer's checkpointed `iterations`.

  Args:
    learning_rate: Python `float > 0`, the rate at the end of the warm-up.
    warmup_steps: Python `int >= 0`; `0` for no warm-up.
    total_steps: Python `int >= 1`, the update at which the decay ends
      (`None` for the `"constant"` decay); a run of `T <= W` steps ends
      within its warm-up and never decays.
    decay: one of `"constant"`, `"cosine"` and `"exponential"`.
    final_fraction: Python `float` in `(0, 1]`: the final rate over
      `learning_rate`.

  Raises:
    ValueError: for an argument out of range; the message names the
      argument and value.

  #### Examples

  ```python
  rate = WarmupDecaySchedule(1e-3, warmup_steps=100, total_steps=10_000,
                             decay="cosine", final_fraction=0.01)
  optimizer = keras.optimizers.Adamax(rate)
  ```
  """

  def __init__(self, learning_rate, warmup_steps=0, total_steps=None,
               decay="constant", final_fraction=0.01):
    check_number("learning_rate", learning_rate, 0, low_open=True)
    check_int("warmup_steps", warmup_steps, 0)
    check_choice("decay", decay, LR_SCHEDULES)
    check_number("final_fraction", final_fraction, 0, 1, low_open=True)
    if total_steps is not None or decay != "constant":
      try:
        check_int("total_steps", total_steps, 1)
      except ValueError:
        raise ValueError(f"`total_steps` must be an int >= 1 for the "
                         f"{decay!r} decay; got {total_steps!r}.") from None
    self.learning_rate = float(learning_rate)
    self.warmup_steps = warmup_steps
    self.total_steps = total_steps
    self.decay = decay
    self.final_fraction = float(final_fraction)

  def __call__(self, step):
    update = tf.cast(step, tf.float32) + 1.0
    rate = tf.constant(self.learning_rate, tf.float32)
    if self.warmup_steps:
      rate *= tf.minimum(1.0, update / self.warmup_steps)
    if self.decay == "constant":
      return rate
    # A run that ends within its warm-up (T <= W) never decays.
    progress = tf.clip_by_value(
        (update - self.warmup_steps) /
        max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
    fraction = self.final_fraction
    if self.decay == "cosine":
      return rate * (fraction + (1.0 - fraction) * 0.5 * (
          1.0 + tf.cos(math.pi * progress)))
    return rate * tf.pow(fraction, progress)

  def get_config(self):
    return dict(learning_rate=self.learning_rate,
                warmup_steps=self.warmup_steps, total_steps=self.total_steps,
                decay=self.decay, final_fraction=self.final_fraction)
