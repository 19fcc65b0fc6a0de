"""Bits per dimension, Real NVP's reported metric."""

from tfnvp.internal.units import nats_to_bits_per_dim

__all__ = ["bits_per_dim"]


def bits_per_dim(distribution, x, **log_prob_kwargs):
  """Returns `-log_prob(x) / (D * ln 2)` per example, `D = H * W * C`.

  For a `tfnvp.RealNVP` over dequantized 8-bit pixels in `[0, 256)` this is
  the metric of Real NVP's table 1: the negative log-likelihood of the
  continuous density in pixel space, in bits, divided by the number of
  dimensions (an upper bound on the discrete model's bits/dim [1]).

  Args:
    distribution: a `tfd.Distribution` with a fully defined event shape, e.g.
      `tfnvp.RealNVP`.
    x: `Tensor` of shape `batch_shape + event_shape`.
    **log_prob_kwargs: forwarded to `distribution.log_prob`.

  Returns:
    bits_per_dim: `Tensor` of shape `batch_shape`.

  Raises:
    ValueError: if the event shape is not fully defined or is empty.

  #### Examples

  ```python
  flow = tfnvp.RealNVP(image_shape=(28, 28, 1), num_scales=2)
  bpd = tfnvp.bits_per_dim(flow, images)     # images in [0, 256)
  ```

  #### References

  [1]: Lucas Theis, Aaron van den Oord and Matthias Bethge. A note on the
       evaluation of generative models. ICLR 2016.
       https://arxiv.org/abs/1511.01844
  """
  event_shape = distribution.event_shape
  if not event_shape.is_fully_defined() or event_shape.num_elements() == 0:
    raise ValueError("`distribution` must have a fully defined, non-empty "
                     f"event shape; got {event_shape}.")
  log_prob = distribution.log_prob(x, **log_prob_kwargs)
  return nats_to_bits_per_dim(-log_prob, event_shape.num_elements())
