"""Affine coupling with a binary mask (checkerboard or channel-wise)."""

import tensorflow as tf

from tfnvp.internal.image_bijector import AugmentedImageBijector

__all__ = ["AffineCoupling", "MASK_TYPES", "coupling_mask"]

MASK_TYPES = ("checkerboard", "channel")


def coupling_mask(mask_type, parity, event_shape, dtype=tf.float32):
  """Returns the binary mask `b` of a coupling, broadcastable to `event_shape`.

  `b = 1` marks the entries that the coupling passes through unchanged.

  ```none
  checkerboard: b[i, j, c] = 1  iff  (i + j) % 2 == parity    shape [H, W, 1]
  channel:      b[i, j, c] = 1  iff  (c < C / 2) == (parity == 0)  shape [1, 1, C]
  ```

  Args:
    mask_type: `"checkerboard"` or `"channel"`.
    parity: `0` or `1`; the two parities give complementary masks.
    event_shape: `[H, W, C]`, a list or an `int32` tensor.
    dtype: dtype of the returned mask.

  Returns:
    mask: `Tensor` of `dtype` with values in `{0, 1}`.

  Raises:
    ValueError: for an unknown `mask_type`, a `parity` not in `{0, 1}`, or a
      `channel` mask on a static odd number of channels.
  """
  _check_mask_args(mask_type, parity)
  height, width, channels = (event_shape[i] for i in range(3))
  if mask_type == "checkerboard":
    rows = tf.range(height)[:, tf.newaxis]
    cols = tf.range(width)[tf.newaxis, :]
    mask = tf.equal((rows + cols) % 2, parity)[..., tf.newaxis]
  else:
    if isinstance(channels, int) and channels % 2:
      raise ValueError(
          "A 'channel' mask needs an even number of channels; got "
          f"channels={channels} (event shape {list(event_shape)}).")
    first_half = tf.range(channels) < channels // 2
    mask = tf.equal(first_half, parity == 0)[tf.newaxis, tf.newaxis, :]
  return tf.cast(mask, dtype)


def _check_mask_args(mask_type, parity):
  if mask_type not in MASK_TYPES:
    raise ValueError(
        f"`mask_type` must be one of {MASK_TYPES}; got {mask_type!r}.")
  if parity not in (0, 1) or isinstance(parity, bool):
    raise ValueError(f"`parity` must be 0 or 1; got {parity!r}.")


class AffineCoupling(AugmentedImageBijector):
  """Real NVP's affine coupling layer on `[H, W, C]` images.

  The coupling passes one part of its input through unchanged and applies
  an affine map, computed from that part, to the rest (eq. 9 of [1]).

  Checkerboard (`mask_type="checkerboard"`): with the binary mask `b` of
  `coupling_mask("checkerboard", parity, ...)` (1 marks the entries passed
  through) and `(shift, log_scale) = shift_and_log_scale_fn(b * x)`, both
  `[..., H, W, C]`:

  ```none
  forward(x)  = b * x + (1 - b) * (x * exp(log_scale) + shift)
  inverse(y)  = b * y + (1 - b) * ((y - shift) * exp(-log_scale))
  forward_log_det_jacobian(x) = sum_{i,j,c} (1 - b) * log_scale
  ```

  Channel (`mask_type="channel"`): the channels are split in halves
  `x = concat([x_1, x_2], axis=-1)`, `C / 2` each. `parity=0` passes `x_1`
  through and transforms `x_2`; `parity=1` the other way round. With `x_p`
  the passed half, `x_t` the transformed one and `(shift, log_scale) =
  shift_and_log_scale_fn(x_p)`, both `[..., H, W, C / 2]`:

  ```none
  y_p = x_p,    y_t = x_t * exp(log_scale) + shift
  x_t = (y_t - shift) * exp(-log_scale)
  forward_log_det_jacobian(x) = sum_{i,j,c} log_scale
  ```

  The network sees only the `C / 2` channels it conditions on and computes
  only the `C / 2`-channel shift and log-scale that are used (as TFP's
  `RealNVP` and Glow's own code split their inputs), so every one of its
  weights receives a gradient. `coupling_mask("channel", parity, ...)`
  gives the same map's mask.

  In both directions the network is evaluated on the same input, since the
  passed part is identical in `x` and `y`. The coupling computes exactly
  this formula for any function it is given; a bound on the log-scale (Real
  NVP's `tanh`, Glow's sigmoid) belongs to the network, see
  `tfnvp.networks.ResNetShiftAndLogScale`.

  The network is evaluated once per call direction: `forward` stores its
  log-det in TFP's bijector cache, so `forward` followed by
  `forward_log_det_jacobian` (as in `TransformedDistribution.log_prob`) does
  not run it again. Call the log-det on the very tensor passed to `forward`
  (or returned by `inverse`) to benefit.

  Args:
    mask_type: `"checkerboard"` (spatial alternation, the same on every
      channel) or `"channel"` (first half of the channels vs the second half).
    parity: `0` or `1`, selects one of the two complementary partitions.
    shift_and_log_scale_fn: callable mapping its input (`b * x` for the
      checkerboard, the passed half `x_p` for channels) to a pair `(shift,
      log_scale)` shaped like that input and of its dtype (a network may
      compute in a lower precision inside, as `tfnvp.networks`' do under a
      mixed policy).
    validate_args: Python `bool`, whether to check arguments at run time.
    name: Python `str`, name of the bijector.

  Raises:
    ValueError: for an unknown `mask_type` or a `parity` not in `{0, 1}`; at
      call time, for inputs of rank < 3, a channel coupling on an odd number
      of channels, or a network output of the wrong shape or dtype.
    TypeError: if `shift_and_log_scale_fn` is not callable.

  #### Examples

  ```python
  net = tfnvp.networks.ResNetShiftAndLogScale(
      channels=2, hidden_channels=32, num_res_blocks=2)
  coupling = tfnvp.bijectors.AffineCoupling("checkerboard", 0, net)
  y = coupling.forward(x)                           # x: [batch, 4, 4, 2]
  fldj = coupling.forward_log_det_jacobian(x, event_ndims=3)  # [batch]

  half = tfnvp.networks.ResNetShiftAndLogScale(
      channels=4, hidden_channels=32, num_res_blocks=2)   # C / 2 channels
  channel = tfnvp.bijectors.AffineCoupling("channel", 1, half)
  z = channel.forward(u)                            # u: [batch, 4, 4, 8]
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, mask_type, parity, shift_and_log_scale_fn,
               validate_args=False, name=None):
    parameters = dict(locals())
    _check_mask_args(mask_type, parity)
    if not callable(shift_and_log_scale_fn):
      raise TypeError("`shift_and_log_scale_fn` must be callable; got "
                      f"{shift_and_log_scale_fn!r}.")
    name = name or f"affine_coupling_{mask_type}_{parity}"
    with tf.name_scope(name) as name:
      self._mask_type = mask_type
      self._parity = parity
      self._shift_and_log_scale_fn = shift_and_log_scale_fn
      super().__init__(forward_min_event_ndims=3, validate_args=validate_args,
                       parameters=parameters, name=name)

  @property
  def mask_type(self):
    return self._mask_type

  @property
  def parity(self):
    return self._parity

  @property
  def shift_and_log_scale_fn(self):
    return self._shift_and_log_scale_fn

  def _shift_and_log_scale(self, inputs):
    """The network's pair on `inputs`, checked to be shaped like them (but
    for batch dimensions that broadcast with theirs)."""
    shift, log_scale = self._shift_and_log_scale_fn(inputs)
    for label, value in (("shift", shift), ("log_scale", log_scale)):
      if not _broadcasts_like(value.shape, inputs.shape):
        raise ValueError(
            f"{self.name}: `shift_and_log_scale_fn` must return tensors shaped "
            f"like its input {inputs.shape} (batch dimensions may broadcast "
            f"with its); got {label} of shape {value.shape}.")
      if value.dtype != inputs.dtype:
        raise ValueError(
            f"{self.name}: `shift_and_log_scale_fn` must return tensors of "
            f"its input's dtype {inputs.dtype.name} (a mixed-precision "
            f"network casts its output back); got {label} of dtype "
            f"{value.dtype.name}.")
    return shift, log_scale

  def _split(self, x):
    """`(passed, transformed)` channel halves of `x`."""
    channels = x.shape[-1]
    if channels is not None and channels % 2:
      raise ValueError(
          f"{self.name}: a 'channel' coupling needs an even number of "
          f"channels; got shape {x.shape}.")
    first, second = tf.split(x, 2, axis=-1)
    return (first, second) if self._parity == 0 else (second, first)

  def _merge(self, passed, transformed):
    if passed.shape != transformed.shape or not (
        passed.shape.is_fully_defined()):
      # A conditional network's output has the batch shape of the inputs
      # broadcast with its labels'.
      passed = tf.broadcast_to(passed, tf.shape(transformed))
    halves = [passed, transformed] if self._parity == 0 else [
        transformed, passed]
    return tf.concat(halves, axis=-1)

  def _transform(self, x, direction):
    """`(output, ildj)` of `forward` (`direction=1`) or `inverse` (`-1`)."""
    self._check_rank(x)
    if self._mask_type == "channel":
      passed, free = self._split(x)
      shift, log_scale = self._shift_and_log_scale(passed)
    else:
      static = x.shape[-3:]
      event_shape = [d if d is not None else tf.shape(x)[i - 3]
                     for i, d in enumerate(static.as_list())]
      mask = coupling_mask(self._mask_type, self._parity, event_shape,
                           x.dtype)
      shift, log_scale = self._shift_and_log_scale(x * mask)
      shift, log_scale = (1 - mask) * shift, (1 - mask) * log_scale
      passed, free = None, x
    if direction > 0:
      out = free * tf.exp(log_scale) + shift
    else:
      out = (free - shift) * tf.exp(-log_scale)
    if passed is not None:
      out = self._merge(passed, out)
    ildj = -tf.reduce_sum(log_scale, axis=[-3, -2, -1])
    return out, {"ildj": ildj}

  def _augmented_forward(self, x):
    return self._transform(x, 1)

  def _augmented_inverse(self, y):
    return self._transform(y, -1)


def _broadcasts_like(shape, like):
  """Whether a network output of `shape` fits an input of shape `like`:
  the same event `[H, W, C]`, batch dimensions that broadcast together."""
  if shape.rank is None or like.rank is None:
    return True
  if shape.rank < 3 or not shape[-3:].is_compatible_with(like[-3:]):
    return False
  try:
    tf.broadcast_static_shape(shape[:-3], like[:-3])
  except ValueError:
    return False
  return True
