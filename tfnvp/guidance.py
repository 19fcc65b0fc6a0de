"""Classifier-free guidance of a class-conditional flow: the two rules.

A flow trained with label dropout has a conditional density `p_c = p(x|y)`
and, under its null label, an unconditional-like `p_u = p(x|null)`.
Guidance of weight `w >= 0` aims at the sharpened density

```none
p_w(x)  proportional to  p_c(x)^(1 + w) / p_u(x)^w
```

(`w = 0` is `p_c`). `tfnvp.RealNVP` and `tfnvp.Glow` with `num_classes`
apply it where the label enters (`flow.given(labels, guidance=w)`):

* at each Gaussian prior, `gaussian_guidance`: the normalized product in
  closed form. When only the priors see the label (the default,
  `condition_couplings=False`), the map `f` from images to latents does not
  depend on the label, the log-determinants of `p_c^(1+w)` and `p_u^w`
  cancel to one, and `p_w(x) = N(f(x); m_w, S_w) |det df/dx|` holds exactly:
  guided sampling draws from `p_w` itself (STARFlow [1] derives its
  guidance from the same Gaussian product).
* in each coupling whose network sees the label (`condition_couplings=
  True`), `linear_guidance`: the shift and log-scale are extrapolated from
  the unconditional ones, as TarFlow does in each autoregressive step [2].
  Every guided coupling is still an exact bijection, so the guided
  distribution is a normalized density with an exact `log_prob`, but it is
  no longer `p_w`: the rule is a heuristic.

#### References

[1]: Jiatao Gu, Tianrong Chen, David Berthelot, Huangjie Zheng, Yuyang Wang,
     Ruixiang Zhang, Laurent Dinh, Miguel Angel Bautista, Josh Susskind and
     Shuangfei Zhai. STARFlow: Scaling Latent Normalizing Flows for
     High-resolution Image Synthesis. 2025. https://arxiv.org/abs/2506.06276

[2]: Shuangfei Zhai, Ruixiang Zhang, Preetum Nakkiran, David Berthelot,
     Jiatao Gu, Huangjie Zheng, Tianrong Chen, Miguel Angel Bautista,
     Navdeep Jaitly and Josh Susskind. Normalizing Flows are Capable
     Generative Models. 2024. https://arxiv.org/abs/2412.06329
"""

import numbers

import tensorflow as tf

__all__ = ["gaussian_guidance", "is_unguided", "linear_guidance"]


def is_unguided(guidance):
  """Whether `guidance` is a Python (or NumPy) number equal to 0.

  Such a weight skips guidance altogether: no unconditional evaluation, none
  of its arithmetic. A `Tensor` weight is always computed with; at 0 the
  rules below still return the conditional values exactly.
  """
  return isinstance(guidance, numbers.Number) and guidance == 0


def gaussian_guidance(loc, log_scale, null_loc, null_log_scale, guidance):
  """The normalized product `p_c^(1 + w) / p_u^w` of two diagonal Gaussians.

  With `p_c = N(m_c, s_c^2)` and `p_u = N(m_u, s_u^2)` elementwise, the
  log of the product is a quadratic in `x`, so the product is Gaussian
  (precision-weighted):

  ```none
  1 / s_w^2 = (1 + w) / s_c^2 - w / s_u^2
  m_w       = s_w^2 ((1 + w) m_c / s_c^2 - w m_u / s_u^2)
            = m_c + w (s_w^2 / s_u^2) (m_c - m_u)
  log s_w   = log s_c - 1/2 log(1 + w (1 - s_c^2 / s_u^2))
  ```

  It is a proper density where the precision is positive, `1 + w (1 -
  s_c^2 / s_u^2) > 0`: always where `s_c <= s_u`, and for `w < s_u^2 /
  (s_c^2 - s_u^2)` where the conditional is the wider. The forms on the
  right are the ones computed: `w = 0` returns `(loc, log_scale)` exactly.

  Args:
    loc: float `Tensor`, `m_c`.
    log_scale: float `Tensor` broadcastable with `loc`, `log s_c`.
    null_loc: float `Tensor` broadcastable with `loc`, `m_u`.
    null_log_scale: float `Tensor` broadcastable with `loc`, `log s_u`.
    guidance: the weight `w >= 0`, a Python number or scalar float `Tensor`.

  Returns:
    `(m_w, log s_w)`, `Tensor`s of the broadcast shape.

  Raises:
    InvalidArgumentError: where the product is not a proper density; the
      message names `guidance` and the largest valid weight for these
      Gaussians.

  #### References

  [1]: Jiatao Gu et al. STARFlow: Scaling Latent Normalizing Flows for
       High-resolution Image Synthesis. 2025.
       https://arxiv.org/abs/2506.06276
  """
  w = _weight(guidance, loc.dtype)
  ratio = tf.exp(2.0 * (log_scale - null_log_scale))       # s_c^2 / s_u^2
  excess = w * (1.0 - ratio)        # s_c^2 / s_w^2 - 1, the precision's change
  # `w < 1 / (ratio - 1)` wherever `ratio > 1`.
  largest = tf.reduce_min(tf.where(
      ratio > 1.0, 1.0 / (ratio - 1.0), tf.constant(float("inf"), loc.dtype)))
  check = tf.debugging.Assert(tf.reduce_all(excess > -1.0), [
      tf.strings.format(
          "`guidance` makes p_c^(1+w) / p_u^w improper (a class-conditional "
          "scale exceeds sqrt((1 + w) / w) times the unconditional one); got "
          "guidance={}; it must be below {} for these labels.",
          (w, largest), summarize=-1)])
  with tf.control_dependencies([check]):
    guided_log_scale = log_scale - 0.5 * tf.math.log1p(excess)
  guided_loc = loc + w * tf.exp(
      2.0 * (guided_log_scale - null_log_scale)) * (loc - null_loc)
  return guided_loc, guided_log_scale


def linear_guidance(conditional, unconditional, guidance):
  """TarFlow's rule: `conditional + w (conditional - unconditional)`.

  Applied to the shift and the log-scale of a coupling computed with the
  label and with the null label, it extrapolates the coupling's affine map
  away from the unconditional one [1]. The guided coupling is an exact
  bijection; what it samples is not `p_c^(1+w) / p_u^w` (a heuristic).
  `w = 0` returns `conditional` exactly.

  Args:
    conditional: float `Tensor`, the output with the label.
    unconditional: float `Tensor` broadcastable with it, the output with the
      null label.
    guidance: the weight `w`, a Python number or scalar float `Tensor`.

  Returns:
    A `Tensor` of the broadcast shape.

  #### References

  [1]: Shuangfei Zhai et al. Normalizing Flows are Capable Generative
       Models. 2024. https://arxiv.org/abs/2412.06329
  """
  w = _weight(guidance, conditional.dtype)
  return conditional + w * (conditional - unconditional)


def _weight(guidance, dtype):
  """`guidance` as a `dtype` scalar (a Python float without a float32
  rounding on the way)."""
  if tf.is_tensor(guidance):
    return tf.cast(guidance, dtype)
  return tf.constant(guidance, dtype)
