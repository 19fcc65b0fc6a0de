"""Both flows at every depth the API accepts, and on non-square images.

The numerical kit (round trips both ways with the cache broken, ildj ==
-fldj, log-det against autodiff, a `None` batch under `tf.function`) on
the data-to-latent map `flow.flow` in float64, at depths 1 to 4 on
16x16x1 images (a dense 256 x 256 Jacobian) and on rectangular images;
float32 round trips, `encode`/`decode` of the multi-scale latents and
sampling at depths 1 to 4 on 16x16x3; `log_prob` matches the change of
variables.
"""

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit

DEPTHS = [1, 2, 3, 4]


def _flow(name, image_shape, depth, dtype=tf.float64, seed=0, stddev=0.05):
  """A small flow of `depth` scales/levels with random weights."""
  if name == "realnvp":
    flow = tfnvp.RealNVP(image_shape, num_scales=depth, hidden_channels=4,
                         num_res_blocks=1, dtype=dtype)
  else:
    flow = tfnvp.Glow(image_shape, num_levels=depth, depth=1,
                      hidden_channels=4, seed=seed, dtype=dtype)
  kit.randomize_weights(flow.layers, seed, stddev=stddev)
  return flow


def _pixels(shape, dtype, seed=0):
  return tf.random.stateless_uniform(shape, [seed, 9], 0.5, 255.5,
                                     dtype=dtype)


def _check_flow(flow, dtype, batch=2):
  x = _pixels([batch, *flow.image_shape], dtype)
  z = flow.flow.forward(x)
  preprocessed = flow.flow.bijectors[-1].forward(x)
  assert np.abs(z - preprocessed).max() > 1e-2, (
      "the randomized flow must not be the identity")
  # An independent point of the range near the data: far out in logit
  # space pixel values keep only ~eps * exp(|y|) of y (LogitTransform).
  y = tf.identity(flow.flow.forward(_pixels(x.shape, dtype, seed=7))) + (
      0.05 * tf.random.stateless_normal(x.shape, [3, 4], dtype=dtype))
  kit.check_bijector(flow.flow, x, y)
  expected = flow.distribution.log_prob(z) + flow.flow.forward_log_det_jacobian(
      tf.identity(x), event_ndims=3)
  rtol = 1e-10 if dtype == tf.float64 else 1e-5
  np.testing.assert_allclose(flow.log_prob(tf.identity(x)), expected,
                             rtol=rtol)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_numerical_kit_at_every_depth(name, depth):
  flow = _flow(name, (16, 16, 1), depth)
  if name == "realnvp":
    assert len(tfnvp.flows.coupling_plan((16, 16, 1), depth)) == depth
  else:
    assert len(tfnvp.flows.glow_level_shapes((16, 16, 1), depth)) == depth
  _check_flow(flow, tf.float64)


@pytest.mark.parametrize("image_shape,depth", [((8, 12, 2), 2),
                                               ((16, 8, 1), 3)])
@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_numerical_kit_on_rectangular_images(name, image_shape, depth):
  _check_flow(_flow(name, image_shape, depth), tf.float64)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_float32_encode_decode_and_sampling_at_every_depth(name, depth):
  """`flow.flow` is encode, its inverse decode: every scale's latents are
  in the one image-shaped tensor and come back; samples are finite.

  Milder weights than the float64 kit's: Glow's deepest level here mixes
  96 channels with a 1x1 convolution, and N(0, 0.05) noise on its LU
  factors makes that matrix ill-conditioned enough to cost float32 round
  trips 1.5x the kit's tolerance (measured); at 0.02 the worst case is
  0.2x, and the flow is still far from the identity (asserted).
  """
  flow = _flow(name, (16, 16, 3), depth, dtype=tf.float32, stddev=0.02)
  x = _pixels([4, 16, 16, 3], tf.float32, seed=5)
  z = flow.flow.forward(x)
  assert z.shape == x.shape
  assert np.abs(z - flow.flow.bijectors[-1].forward(x)).max() > 1e-2
  kit.assert_round_trips(flow.flow, x, tf.identity(
      flow.flow.forward(_pixels(x.shape, tf.float32, seed=6))))
  kit.assert_ildj_is_minus_fldj(flow.flow, x)
  samples = tfnvp.sample_at_temperature(flow, 8, 0.5, seed=[1, 2])
  assert samples.shape == (8, 16, 16, 3)
  assert np.all(np.isfinite(samples))
  if flow.domain is None:
    assert np.all(np.isfinite(flow.log_prob(samples)))
    return
  # Real NVP: samples lie in the logit map's domain, up to float32's
  # rounding at its ends. (These random flows put logits beyond ~16, which
  # float32 rounds onto an end, where log_prob is not finite: see
  # LogitTransform. The data-side round trips above check log-dets.)
  low, high = flow.domain
  ulp = 3.1e-5    # float32's spacing at 270
  assert np.all((samples >= low - ulp) & (samples <= high + ulp))


@pytest.mark.parametrize("name,image_shape,depth", [
    ("realnvp", (16, 16, 3), 5), ("realnvp", (16, 12, 1), 4),
    ("glow", (16, 16, 3), 5), ("glow", (8, 24, 1), 4)])
def test_too_deep_is_a_clear_error(name, image_shape, depth):
  with pytest.raises(ValueError, match=f"{depth} is too deep"):
    _flow(name, image_shape, depth)
