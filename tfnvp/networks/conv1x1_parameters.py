"""The `C x C` matrix of `tfnvp.bijectors.InvertibleConv1x1` and its state."""

import keras
import numpy as np
import tensorflow as tf

from tfnvp.internal.checks import check_int

__all__ = ["InvertibleConv1x1Parameters"]


@keras.saving.register_keras_serializable(package="tfnvp")
class InvertibleConv1x1Parameters(keras.layers.Layer):
  """Holds the weights of an invertible 1x1 convolution `W` (`C x C`).

  `W` starts as a random rotation (`keras.initializers.Orthogonal(seed)`,
  `|det W| = 1`). Two parameterizations, as in Glow [1]:

  ```none
  lu_decomposed=True:   W = P @ L @ (U + diag(sign_s * exp(log_abs_s)))
      one trainable C x C matrix `lower_upper` holds all three parts (as
      TFP's `MatvecLU` holds L and U), so every entry is used:
      L = I + strictly lower part, U = strictly upper part,
      log_abs_s = diagonal; P: fixed permutation; sign_s: fixed signs;
      log|det W| = sum(log_abs_s)
  lu_decomposed=False:  W = kernel (trainable, C x C); log|det W| = slogdet
  ```

  Args:
    channels: Python `int >= 1`.
    lu_decomposed: Python `bool`, the parameterization (see above).
    seed: Python `int` or `None`, seed of the initial rotation.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if `channels` is not a positive int.

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, lu_decomposed=True, seed=None, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 1)
    self.channels = channels
    self.lu_decomposed = bool(lu_decomposed)
    self.seed = seed
    rotation = np.asarray(keras.initializers.Orthogonal(seed=seed)(
        (channels, channels), dtype="float64"))
    if not self.lu_decomposed:
      self.kernel = self._constant("kernel", rotation, trainable=True)
    else:
      lu, perm = tf.linalg.lu(tf.constant(rotation))
      lu, perm = lu.numpy(), perm.numpy()
      diagonal = np.diag(lu)
      # tf.linalg.lu gives rotation[perm] = L @ U, i.e. rotation = P @ L @ U
      # with P = eye[perm]^T.
      permutation = np.eye(channels)[perm].T
      self.permutation = self._constant("permutation", permutation, False)
      self.sign_s = self._constant("sign_s", np.sign(diagonal), False)
      self.lower_upper = self._constant(
          "lower_upper", np.tril(lu, -1) + np.triu(lu, 1) + np.diag(
              np.log(np.abs(diagonal))), True)
    self.built = True  # every weight exists: nothing for Keras to build

  def _constant(self, name, value, trainable):
    return self.add_weight(
        shape=value.shape, trainable=trainable, name=name, autocast=False,
        initializer=keras.initializers.Constant(value))

  def matrix(self, dtype):
    """`W` as a `dtype` tensor."""
    if not self.lu_decomposed:
      return tf.cast(self.kernel, dtype)
    lower_upper = tf.cast(self.lower_upper, dtype)
    eye = tf.eye(self.channels, dtype=dtype)
    lower = tf.linalg.band_part(lower_upper, -1, 0) * (1 - eye) + eye
    upper = tf.linalg.band_part(lower_upper, 0, -1) * (1 - eye)
    s = tf.cast(self.sign_s, dtype) * tf.exp(tf.linalg.diag_part(lower_upper))
    return tf.cast(self.permutation, dtype) @ lower @ (upper + tf.linalg.diag(
        s))

  def log_abs_det(self, dtype):
    """`log|det W|` as a `dtype` scalar."""
    if self.lu_decomposed:
      return tf.linalg.trace(tf.cast(self.lower_upper, dtype))
    return tf.linalg.slogdet(tf.cast(self.kernel, dtype))[1]

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, lu_decomposed=self.lu_decomposed,
                  seed=self.seed)
    return config
