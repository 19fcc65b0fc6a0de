"""Real NVP's logit preprocessing between pixel space and logit space."""

import math

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfnvp.internal.checks import is_number
from tfnvp.internal.dequantization import pixel_range_assertions

__all__ = ["LogitTransform"]


class LogitTransform(tfb.Bijector):
  """Maps dequantized 8-bit pixels `x` in `[0, 256)` to logit space.

  ```none
  p = alpha + (1 - 2 * alpha) * x / 256           # p in [alpha, 1 - alpha)
  forward(x) = logit(p) = log(p) - log(1 - p)
  inverse(y) = (sigmoid(y) - alpha) * 256 / (1 - 2 * alpha)
  forward_log_det_jacobian(x) = log((1 - 2 * alpha) / 256) - log(p) - log(1 - p)
  ```

  The log-det includes the `1 / 256` of the rescaling, so a flow with this
  bijector as its first (data-side) step has its density in pixel space, the
  space in which Real NVP reports bits/dim (section 4.1 of [1]).

  Why `alpha + (1 - 2 alpha) x` and not the paper's text, `alpha + (1 - alpha)
  x`: the paper's map sends the brightest pixels towards `p = 1`, where the
  logit is unbounded and float32 loses its precision (`255 + u` with `u` near
  1 gives `p` within `1e-7` of 1); the symmetric map keeps `p` in `[alpha, 1 -
  alpha]` and treats dark and bright pixels alike, as the authors' code does.
  Both are exact bijections whose log-det is counted, so either gives bits/dim
  in the same units as the paper; they differ only in how easy the data is to
  model, not in the meaning of the number.

  Normalization: a flow with this bijector as its data-side step is a
  density normalized over the image of the inverse logit, the open cube

  ```none
  (a, b)^D,   a = -256 alpha / (1 - 2 alpha),   b = 256 (1 - alpha) / (1 - 2 alpha)
  ```

  (`(-14.2, 270.2)^D` for `alpha = 0.05`), not over `[0, 256)^D`, which
  holds less than all of its mass. Bits/dim computed from `log_prob` on
  dequantized pixels are therefore an upper bound on those of the discrete
  8-bit model, as in the paper; raw `sample`s can fall anywhere in `(a,
  b)`, outside `[0, 256)` too (clip them to show them, as
  `tfnvp.to_uint8` does).

  The map is elementwise (`forward_min_event_ndims = 0`). `inverse` maps all
  of R onto `(-256 alpha / (1 - 2 alpha), 256 (1 - alpha) / (1 - 2 alpha))`;
  for `|y|` beyond about 17 (float32) or 37 (float64) the sigmoid rounds to 0
  or 1 and `inverse(y)` lands on an end of that interval, where `forward` is
  infinite: such points lie far outside the pixel range `[0, 256)`. Before
  that, precision fades gradually: `forward(inverse(y))` recovers `y` only to
  about `eps * exp(|y|)`, so samples of a flow whose latents reach `|y| ~ 20`
  (pixels within `1e-7` of those ends, far outside `[0, 256)`) give back
  their `log_prob` to about `1e-8` relative in float64. Inside the pixel
  range `|y| <= logit(1 - alpha)` (2.9 for `alpha = 0.05`): no such loss.

  Args:
    alpha: Python `float` in `(0, 0.5)`; Real NVP uses `0.05`.
    validate_args: Python `bool`; if `True`, `forward` checks that `x` is
      finite and in `[0, 256)`, and `inverse` that `y` is finite.
    name: Python `str`, name of the bijector.

  Raises:
    ValueError: if `alpha` is not in `(0, 0.5)`.
    InvalidArgumentError: at run time with `validate_args=True`, for pixels
      outside `[0, 256)`, NaN or inf.

  #### Examples

  ```python
  logit = tfnvp.bijectors.LogitTransform(alpha=0.05)
  y = logit.forward(x)                         # x: dequantized pixels
  fldj = logit.forward_log_det_jacobian(x, event_ndims=3)
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, alpha=0.05, validate_args=False, name="logit_transform"):
    parameters = dict(locals())
    if not is_number(alpha) or not 0.0 < alpha < 0.5:
      raise ValueError(f"`alpha` must be a float in (0, 0.5); got {alpha!r}.")
    with tf.name_scope(name) as name:
      self._alpha = float(alpha)
      super().__init__(forward_min_event_ndims=0, validate_args=validate_args,
                       parameters=parameters, name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  @property
  def alpha(self):
    return self._alpha

  def _assert_valid_x(self, x):
    if not self.validate_args:
      return []
    return pixel_range_assertions(
        x, f"{self.name}: `x` (dequantized pixel values) must be finite and in "
        "[0, 256)")

  def _assert_valid_y(self, y):
    if not self.validate_args:
      return []
    return [tf.debugging.assert_all_finite(
        y, message=f"{self.name}: `y` (logits) must be finite")]

  def _forward(self, x):
    with tf.control_dependencies(self._assert_valid_x(x)):
      p = self._alpha + (1.0 - 2.0 * self._alpha) / 256.0 * x
      return tf.math.log(p) - tf.math.log1p(-p)

  def _inverse(self, y):
    with tf.control_dependencies(self._assert_valid_y(y)):
      return ((tf.sigmoid(y) - self._alpha) *
              (256.0 / (1.0 - 2.0 * self._alpha)))

  def _forward_log_det_jacobian(self, x):
    with tf.control_dependencies(self._assert_valid_x(x)):
      p = self._alpha + (1.0 - 2.0 * self._alpha) / 256.0 * x
      return (math.log((1.0 - 2.0 * self._alpha) / 256.0)
              - tf.math.log(p) - tf.math.log1p(-p))

  def _inverse_log_det_jacobian(self, y):
    # log p = -softplus(-y) and log(1 - p) = -softplus(y), stable for any y.
    with tf.control_dependencies(self._assert_valid_y(y)):
      return (-math.log((1.0 - 2.0 * self._alpha) / 256.0)
              - tf.math.softplus(-y) - tf.math.softplus(y))
