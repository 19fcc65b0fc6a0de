"""Multi-scale factor-out: transform half of the channels, pass the rest on."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfnvp.internal.image_bijector import ImageBijector

__all__ = ["FactorOut"]


class _PassThrough(ImageBijector):
  """The identity on `[H, W, C]` events (`forward_min_event_ndims=3`).

  `tfb.JointMap` reduces log-dets over the same number of extra dimensions
  in every part. `tfb.Identity` is elementwise (min event ndims 0), so
  beside a rank-3 bijector it makes the parts' differences 3 and 0, which a
  nested `FactorOut` (three or more scales) rejects.
  """

  def __init__(self, validate_args=False, name="pass_through"):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      super().__init__(forward_min_event_ndims=3, is_constant_jacobian=True,
                       validate_args=validate_args, parameters=parameters,
                       name=name)

  def _forward(self, x):
    return x

  def _inverse(self, y):
    return y

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], x.dtype)


class FactorOut(tfb.Chain):
  """Real NVP's multi-scale step (section 3.6 of [1]) on `[H, W, C]` events.

  The first half of the channels is factored out (passed through unchanged,
  it is part of the final latent code); the second half goes on to
  `bijector`, the deeper scales of the flow:

  ```none
  x1, x2 = split(x, 2, axis=-1)                  # C/2 channels each
  forward(x) = concat([x1, bijector.forward(x2)], axis=-1)
  forward_log_det_jacobian(x) = bijector.forward_log_det_jacobian(x2)
  ```

  It is composed of TFP's own bijectors, `Split`, `JointMap` and `Invert`,
  so caching and event-shape logic are TFP's; `FactorOut`s nest to any
  depth. `bijector` must map `[H, W, C/2]` events to events of the same
  shape.

  Args:
    bijector: a `tfb.Bijector` on `[H, W, C/2]` events
      (`forward_min_event_ndims <= 3`).
    validate_args: Python `bool`, whether to check arguments at run time.
    name: Python `str`, name of the bijector.

  Raises:
    TypeError: if `bijector` is not a `tfb.Bijector`.

  #### Examples

  ```python
  deeper = tfnvp.bijectors.AffineCoupling("checkerboard", 0, net)
  step = tfnvp.bijectors.FactorOut(deeper)
  z = step.forward(x)              # x: [batch, 14, 14, 4], net sees 2 channels
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, bijector, validate_args=False, name="factor_out"):
    parameters = dict(locals())
    if not isinstance(bijector, tfb.Bijector):
      raise TypeError(f"`bijector` must be a tfb.Bijector; got {bijector!r}.")
    split = tfb.Split(2, axis=-1, validate_args=validate_args)
    self._bijector = bijector
    super().__init__(
        [tfb.Invert(split),
         tfb.JointMap([_PassThrough(), bijector], validate_args=validate_args),
         split],
        validate_args=validate_args, parameters=parameters, name=name)

  @property
  def bijector(self):
    return self._bijector

  def _get_parameterization(self):
    # TFP's bijector cache hashes a bijector's parameters on every call, and
    # a bijector parameter by hashing its own parameters in turn: through
    # nested factor-outs that is the whole flow, for every one of its
    # bijectors (18 s of a 5-scale `log_prob`, where the networks take 1 s).
    # Each factor-out is its own cache identity instead.
    return id(self)
