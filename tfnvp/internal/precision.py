"""The precision of a flow's coupling networks (Keras mixed precision)."""

import keras
import tensorflow as tf

__all__ = ["LOW_PRECISIONS", "network_policy", "resolve_network_dtype"]

LOW_PRECISIONS = ("bfloat16", "float16")


def resolve_network_dtype(network_dtype, dtype):
  """The compute dtype of a flow's coupling networks, as a name.

  Args:
    network_dtype: `None` (Keras's global policy: its compute dtype if it is
      `"mixed_bfloat16"` or `"mixed_float16"` and `dtype` is float32, else
      `dtype`), `dtype` itself, or `"bfloat16"`/`"float16"` (float32 flows
      only); a name or a `tf.DType`.
    dtype: the flow's dtype, `float32` or `float64`.

  Returns:
    `"float32"`, `"float64"`, `"bfloat16"` or `"float16"`.

  Raises:
    ValueError: for another value, or a low precision on a float64 flow.
  """
  dtype = tf.as_dtype(dtype).name
  if network_dtype is None:
    policy = keras.config.dtype_policy()
    mixed = policy.name.startswith("mixed_") and dtype == "float32"
    return policy.compute_dtype if mixed else dtype
  try:
    name = tf.as_dtype(network_dtype).name
  except TypeError:
    name = None
  allowed = (dtype,) + (LOW_PRECISIONS if dtype == "float32" else ())
  if name not in allowed:
    raise ValueError(f"`network_dtype` must be None or one of {allowed} for "
                     f"a {dtype} flow; got {network_dtype!r}.")
  return name


def network_policy(network_dtype, dtype):
  """The Keras dtype policy of coupling networks computing in
  `network_dtype` with variables of `dtype` (`resolve_network_dtype`'s
  arguments)."""
  name = resolve_network_dtype(network_dtype, dtype)
  return keras.DTypePolicy(
      f"mixed_{name}" if name in LOW_PRECISIONS else name)
