"""The clients' checks of a call against `export.contract`, in NumPy.

A request's inputs are checked and cast before anything is sent
(`prepare_inputs`); a response's outputs are collected as arrays of the
signature's dtypes, exactly the signature's outputs, each finite where the
contract says so (`collect_outputs`), and their shapes checked against the
request (`check_outputs`). The transports (`export.client`,
`export.grpc_client`) only move the arrays.

A shape of the contract binds its named sizes in the order the tensors are
checked: in `interpolate`, `images_a` of shape `[2, 8, 8, 1]` binds `n = 2`,
and `images_b` must then have `n = 2` too; a scalar input binds its value
(`num_samples = 16`), which the outputs' shapes must follow.

#### Examples

```python
arrays = prepare_inputs("sample", {"num_samples": 4, "temperature": 0.7,
                                   "seed": (1, 2)})
arrays["seed"].dtype                        # int64
check_outputs("sample", outputs, arrays)    # PredictError unless [4, ...]
```
"""

import numpy as np

from . import contract
from .errors import PredictError
from .errors import invalid_response_prefix

__all__ = ["cast_float", "check_outputs", "collect_outputs",
           "conditional_request", "kind_name", "outside_integer_range",
           "prepare_inputs", "quote_names"]

# NumPy dtype kinds that are not numbers, for messages.
_KINDS = {"b": "booleans", "U": "strings", "S": "bytes",
          "c": "complex numbers", "O": "non-numbers such as None",
          "M": "datetimes", "m": "timedeltas"}


def kind_name(array, default=None):
  """What `array` holds, for messages: `"booleans"`, `"strings"`, ...

  Args:
    array: a NumPy array.
    default: the name of a kind `_KINDS` does not name (numbers); the
      dtype's name if `None`.

  Returns:
    A plural noun phrase.
  """
  return _KINDS.get(array.dtype.kind, default or array.dtype.name)


def outside_integer_range(array, dtype):
  """Whether a value of `array` (integers or floats) does not fit `dtype`.

  Args:
    array: a NumPy array of integers or floats.
    dtype: an integer NumPy dtype.

  Returns:
    Python `bool`.
  """
  info = np.iinfo(dtype)
  if array.dtype.kind == "f":
    # Powers of two: exact in floating point, unlike `info.max`.
    too_big = array >= float(info.max + 1)
    too_small = array < float(info.min)
  else:
    too_big = array > info.max
    too_small = array < info.min
  return bool(np.any(too_big | too_small))


def cast_float(array, dtype):
  """`array` cast to the float `dtype`, and whether a finite value overflowed.

  Args:
    array: a NumPy array of numbers.
    dtype: a float NumPy dtype.

  Returns:
    `(cast, overflowed)`: the cast array and a Python `bool`.
  """
  with np.errstate(over="ignore"):
    cast = array.astype(dtype)
  return cast, bool(np.any(np.isfinite(array) & ~np.isfinite(cast)))


def _match_shape(pattern, shape, dims, owner):
  """Checks `shape` against a contract shape, binding its named sizes.

  Args:
    pattern: a shape of `export.contract` (ints and names).
    shape: the received shape (a tuple of ints).
    dims: `{name: (size, owner)}` of the sizes bound so far in this call;
      updated with the names `pattern` binds.
    owner: how to name the tensor in later messages (`"`images`"`).

  Returns:
    `None`, or what is wrong, as a phrase that follows the tensor's name.
  """
  text = contract.format_shape(pattern)
  got = f"got shape {list(shape)}"
  if not pattern and shape:
    return f"must be a scalar; {got}"
  if len(shape) != len(pattern):
    return f"must have shape {text} (rank {len(pattern)}); {got}"
  for dim, size in zip(pattern, shape):
    if isinstance(dim, int):
      if size != dim:
        return f"must have shape {text}; {got}"
    elif dim in dims:
      bound, source = dims[dim]
      if size != bound:
        return (f"must have shape {text} with {dim} = {bound} (from "
                f"{source}); {got}")
    elif size < 1:
      return f"must have shape {text} with {dim} >= 1; {got}"
    else:
      dims[dim] = (size, owner)
  return None


def _range_error(name, dtype, low, high):
  info = np.iinfo(dtype)
  return ValueError(f"`{name}` must be in [{info.min}, {info.max}] "
                    f"({dtype.name}); got values from {low} to {high}.")


def _as_input(value, dtype, name):
  """`value` as an array of `dtype`, or an error naming `name`.

  Integers must fit without wrapping (floats are accepted when they hold
  integers); floats must fit float32.

  Raises:
    TypeError: for values that are not numbers (booleans, strings, `None`).
    ValueError: for ragged lists, non-integers or values out of range.
  """
  dtype = np.dtype(dtype)
  try:
    array = np.asarray(value)
  except (ValueError, TypeError) as err:
    raise ValueError(f"`{name}` must be an array of numbers; got a ragged or "
                     f"mixed {type(value).__name__} ({err}).") from None
  integer = np.issubdtype(dtype, np.integer)
  if integer and array.dtype.kind in "fO" and not isinstance(
      value, np.ndarray):
    # NumPy turns Python ints beyond int64 into floats or objects.
    ints = [v for v in np.asarray(value, dtype=object).flat
            if type(v) is int]  # pylint: disable=unidiomatic-typecheck
    info = np.iinfo(dtype)
    if ints and (min(ints) < info.min or max(ints) > info.max):
      raise _range_error(name, dtype, min(ints), max(ints))
  if array.dtype.kind not in "iuf":
    raise TypeError(f"`{name}` must hold numbers ({dtype.name}); got "
                    f"{kind_name(array)}.")
  if isinstance(value, (list, tuple)) and any(
      isinstance(v, (bool, np.bool_))
      for v in np.asarray(value, dtype=object).flat):
    # NumPy reads booleans among numbers as 0 and 1.
    raise TypeError(f"`{name}` must hold numbers ({dtype.name}); got "
                    "booleans among them.")
  if not integer:
    cast, overflowed = cast_float(array, dtype)
    if overflowed:
      finite = np.isfinite(array)
      raise ValueError(f"`{name}` must fit {dtype.name}; got values up to "
                       f"{np.max(np.abs(array[finite]))}.")
    return cast
  if array.dtype.kind == "f" and not (
      np.all(np.isfinite(array)) and np.all(array == np.round(array))):
    raise ValueError(f"`{name}` must hold integers ({dtype.name}); got "
                     f"dtype {array.dtype.name} with non-integer values.")
  if outside_integer_range(array, dtype):
    raise _range_error(name, dtype, array.min(), array.max())
  return array.astype(dtype)


def _input_dims(signature, arrays):
  """The named sizes a request binds: `{name: (size, owner)}`.

  Raises:
    ValueError: for an input of another shape than the contract's.
  """
  dims = {}
  for name, pattern in signature.input_shapes.items():
    problem = _match_shape(pattern, arrays[name].shape, dims, f"`{name}`")
    if problem:
      raise ValueError(f"`{name}` {problem}.")
  for name, array in arrays.items():
    if array.ndim == 0 and any(name in shape for shape in
                               signature.output_shapes.values()):
      dims[name] = (int(array), f"`{name}`")
  return dims


def prepare_inputs(signature_name, inputs):
  """Checks a request's inputs and casts each to its signature dtype.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    inputs: `dict` of input name to array-like.

  Returns:
    `{input name: np.ndarray}` of the signature's dtypes.

  A request with `labels` is for a class-conditional model
  (`contract.is_conditional_request`), whose signature's inputs it must
  have.

  Raises:
    ValueError: unknown signature, missing or extra inputs, shapes other
      than the contract's (an unbatched image, an empty batch, a non-scalar
      count, batches of different sizes), ragged lists, non-integers for an
      integer input or values that do not fit the input's dtype.
    TypeError: values that are not numbers (booleans, strings, `None`).
  """
  if not isinstance(inputs, dict):
    contract.signature(signature_name)    # an unknown name first
    raise TypeError(f"`inputs` must be a dict of input name to array; got "
                    f"{type(inputs).__name__}.")
  conditional = contract.is_conditional_request(inputs)
  signature = contract.signature(signature_name, conditional)
  if set(inputs) != set(signature.inputs):
    model = " of a class-conditional model" if conditional else ""
    raise ValueError(
        f"Signature {signature_name!r}{model} takes inputs "
        f"{sorted(signature.inputs)}; got {sorted(inputs)}.")
  arrays = {name: _as_input(inputs[name], dtype, name)
            for name, dtype in signature.inputs.items()}
  _input_dims(signature, arrays)
  return arrays


def quote_names(names):
  """Names as messages list them: `["a", "b"]` -> "`a`, `b`"."""
  return ", ".join(f"`{n}`" for n in names)


def collect_outputs(signature_name, outputs, to_array, source,
                    conditional=False):
  """Every output of a response, as an array of its signature dtype.

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    outputs: a mapping of output name to the transport's value (a JSON
      value, a `TensorProto`), with the signature's names only.
    to_array: `(value, dtype name, what) -> np.ndarray` of that dtype;
      raises `PredictError` with a message that starts with `what` (which
      names the server, the signature and the output) otherwise.
    source: names the server in messages (its URL or gRPC target).
    conditional: Python `bool`, whether the request was for a
      class-conditional model (`contract.is_conditional_request`).

  Returns:
    `{output name: np.ndarray}`, in the signature's order.

  Raises:
    PredictError: for a missing or unknown output, NaN or inf in an output
      the contract says is finite (`Signature.finite_outputs`; so a
      decision such as `is_outlier` is never returned beside a NaN score),
      or from `to_array`.
  """
  signature = contract.signature(signature_name, conditional)
  where = invalid_response_prefix(source, signature_name)
  missing = [name for name in signature.outputs if name not in outputs]
  unknown = sorted(name for name in outputs if name not in signature.outputs)
  if missing or unknown:
    problem = (f"lacks outputs {quote_names(missing)}" if missing else
               f"has outputs the signature does not declare, "
               f"{quote_names(unknown)}")
    raise PredictError(f"{where} it {problem}; got {sorted(outputs)}.")
  arrays = {name: to_array(outputs[name], dtype, f"{where} output `{name}`")
            for name, dtype in signature.outputs.items()}
  for name in signature.finite_outputs:
    bad = ~np.isfinite(arrays[name])
    if bad.any():
      raise PredictError(
          f"{where} output `{name}` holds {int(bad.sum())} NaN or inf of "
          f"{bad.size} values; the signature returns finite values only "
          "(a server that computes NaN or inf must answer with an error).")
  return arrays


def conditional_request(inputs, conditional=None):
  """Whether a request is for a class-conditional model's signature.

  Args:
    inputs: the request's inputs (a `dict`), or `None` if unknown.
    conditional: `True` or `False` to say so, or `None`: whether `inputs`
      hold `labels` (`contract.is_conditional_request`).

  Returns:
    Python `bool`.
  """
  if conditional is None:
    return inputs is not None and contract.is_conditional_request(inputs)
  return conditional


def check_outputs(signature_name, outputs, inputs=None, source="the server",
                  conditional=None):
  """Checks a response's output shapes against the contract and the request.

  The shapes of `export.contract.SIGNATURES`: with `inputs`, the sizes they
  bind (`n` of `[n, H, W, C]` images, `num_samples`, `num_steps`) must be
  the outputs' sizes too; without, each output must have the contract's
  rank and the outputs must agree with each other (`images` and `pixels`
  of the same shape, ...).

  Args:
    signature_name: a name of `export.contract.SIGNATURES`.
    outputs: `{output name: np.ndarray}`, every output of the signature.
    inputs: the request, as returned by `prepare_inputs`, or `None`.
    source: names the server in messages (its URL or gRPC target).
    conditional: whether the request was for a class-conditional model;
      `None`: whether `inputs` hold `labels`.

  Returns:
    `outputs`.

  Raises:
    PredictError: for an output of another shape.
  """
  signature = contract.signature(
      signature_name, conditional_request(inputs, conditional))
  dims = {} if inputs is None else _input_dims(signature, inputs)
  for name, pattern in signature.output_shapes.items():
    problem = _match_shape(pattern, np.shape(outputs[name]), dims,
                           f"output `{name}`")
    if problem:
      raise PredictError(f"{invalid_response_prefix(source, signature_name)}"
                         f" output `{name}` {problem}.")
  return outputs
