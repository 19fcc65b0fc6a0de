"""Run-time checks in the serving graph: `Assert` ops that name the input.

TF Serving feeds a request's tensors to the graph without checking them
against the signature, so the graph checks them itself, before any op of
the model, and a bad request gets an error that names the argument and what
it received instead of NaN or an error from deep in the model. The checks
run in a given order (`checked`), so a request with several problems reports
the first; `check_finite` and `finite_output` refuse to return what the
model could not compute, naming the signature and what was not finite.

#### Examples

```python
images, = checked(
    [images],
    lambda x: check_shape(x, "images", [None, 28, 28, 1],
                          "a batch of 28x28 images"),
    lambda x: check_values(x, "images", (0.0, 256.0, True),
                           "finite and in [0, 256)"))
z = finite_output(flow.flow.forward(images), "encode", "output `z`",
                  "Check the weights of the exported checkpoint.")
```
"""

import tensorflow as tf

__all__ = ["all_true", "assert_that", "check_finite", "check_scalar_in",
           "check_shape", "check_values", "checked", "finite_output",
           "runtime_shape"]


def assert_that(condition, *data):
  """An `Assert` op; returns it to be used as a control dependency.

  Args:
    condition: a scalar `bool` tensor.
    *data: strings and tensors of the message, printed when it fails (the
      first 8 values of each tensor).

  Returns:
    The `Assert` op.
  """
  return tf.debugging.Assert(condition, list(data), summarize=8)


def all_true(condition):
  """`tf.reduce_all` over every element, whatever the received rank."""
  return tf.reduce_all(tf.reshape(condition, [-1]))


def checked(tensors, *checks):
  """`tensors` after each of `checks` in turn.

  Each check is a function of the tensors (as already checked by the
  checks before it) that returns an `Assert` op, so a request with several
  problems reports the first one, and no op of the model runs on a request
  that fails a check.

  Args:
    tensors: a list of tensors.
    *checks: functions `(*tensors) -> Assert op`.

  Returns:
    The list `tensors`, each gated by every check.
  """
  for check in checks:
    with tf.control_dependencies([check(*tensors)]):
      tensors = [tf.identity(t) for t in tensors]
  return tensors


def check_finite(x, signature_name, what, hint):
  """An `Assert` that the model computed no NaN or inf in `x`.

  Args:
    x: a float tensor the model computed.
    signature_name: the signature that computed it, for the message.
    what: what `x` is, for the message (`"output `z`"`, `"latents of
      ..."`).
    hint: what to check, for the message.

  Returns:
    The `Assert` op; its message names the signature and `what`, says that
    no output is returned, and counts the values that are not finite.
  """
  finite = tf.math.is_finite(x)
  return assert_that(
      all_true(finite),
      f"Signature `{signature_name}` computed non-finite {what} (NaN or "
      f"inf); no output is returned. {hint} Values that are not finite:",
      tf.reduce_sum(tf.cast(tf.logical_not(finite), tf.int32)), "of",
      tf.size(x))


def finite_output(x, signature_name, what, hint):
  """`x`, usable only once `check_finite` has passed on it (same args)."""
  with tf.control_dependencies(
      [check_finite(x, signature_name, what, hint)]):
    return tf.identity(x)


def _hidden(x):
  """`x`, with its static shape and value hidden from TF's graph optimizer.

  A serialization round trip: the optimizer sees neither through it nor
  past it.
  """
  return tf.raw_ops.ParseTensor(
      serialized=tf.raw_ops.SerializeTensor(tensor=x), out_type=x.dtype)


def runtime_shape(x):
  """The shape of the tensor fed at run time, as int32 `[rank]`.

  TF Serving's session feeds a request's tensor without checking it against
  the signature's (static) shape, but `tf.shape`, `tf.size` and `tf.rank`,
  and Grappler's constant folding of the raw ops, replace a shape that the
  traced graph knows by a constant. So a tensor of fully known static shape
  (a scalar, the seed: small) is serialized before its shape is taken, and
  otherwise the shape vector is, so that neither its length (the rank) nor
  its known sizes fold.

  Args:
    x: a tensor.

  Returns:
    An int32 tensor `[rank]`.
  """
  if x.shape.is_fully_defined():
    x = _hidden(x)
  return _hidden(tf.raw_ops.Shape(input=x, out_type=tf.int32))


def check_shape(x, name, pattern, description, show_values=False):
  """An `Assert` that `x` has the shape `pattern`, run before any other op.

  Args:
    x: a tensor.
    name: the input's name, for the message.
    pattern: a list of dimensions: an `int` is that size, `None` any size
      >= 1 (a batch, which must not be empty).
    description: what `x` must be, for the message (`"a scalar"`, ...).
    show_values: also print (the first few of) the received values.

  Returns:
    The `Assert` op; its message names `name` and the received shape.
  """
  shape = runtime_shape(x)
  rank = tf.size(shape)
  # Padded so that indexing works for any received rank.
  padded = tf.concat([shape, tf.zeros([len(pattern)], tf.int32)], axis=0)
  ok = tf.equal(rank, len(pattern))
  for i, size in enumerate(pattern):
    ok = tf.logical_and(
        ok, padded[i] >= 1 if size is None else tf.equal(padded[i], size))
  values = ["holding", x] if show_values else []
  return assert_that(ok, f"`{name}` must be {description}; got shape", shape,
                     *values)


def check_values(x, name, bounds=None, description="finite"):
  """An `Assert` that every value of `x` is finite and within `bounds`.

  Args:
    x: a float tensor.
    name: the input's name, for the message.
    bounds: `None`, or `(low, high, low_closed)`: the values must be in
      `[low, high)` (`low_closed`) or `(low, high)`.
    description: what the values must be, for the message.

  Returns:
    The `Assert` op; its message counts the values that are not (and the
    NaN or inf among them) and gives the range of the finite ones.
  """
  finite = tf.math.is_finite(x)
  ok = finite
  if bounds is not None:
    low, high, low_closed = bounds
    ok &= (x >= low) if low_closed else (x > low)
    ok &= x < high
  zeros = tf.zeros_like(x)
  return assert_that(
      all_true(ok), f"`{name}` must be {description}; got",
      tf.reduce_sum(tf.cast(tf.logical_not(ok), tf.int32)),
      "values that are not, of which NaN or inf:",
      tf.reduce_sum(tf.cast(tf.logical_not(finite), tf.int32)),
      "; finite values range from", tf.reduce_min(tf.where(finite, x, zeros)),
      "to", tf.reduce_max(tf.where(finite, x, zeros)))


def check_scalar_in(x, name, low, high):
  """An `Assert` that `x` is in `[low, high]`; run it after `check_shape`."""
  return assert_that(all_true((x >= low) & (x <= high)),
                     f"`{name}` must be a scalar in [{low}, {high}]; got", x)
