"""The serving contract: each signature's input and output names, dtypes and
shapes.

The SavedModel's endpoints (`export.endpoints`) and the clients
(`export.client`, `export.grpc_client`) both read this table, so the names a
client sends are the names the model declares, the model's input signature
and its checks of a request follow these shapes, and the clients check a
request's shapes before sending it and a response's shapes against the
request.

A shape is a tuple of dimensions: an `int` is that size; a name is a size >= 1
that is the same wherever the name appears in one call (its inputs and
outputs), and the name of a scalar input (`num_samples`, `num_steps`) is that
input's value. So `images` and `z` are `[n, H, W, C]` with `n >= 1` (an empty
batch is an error), `images` of `interpolate` is `[n, num_steps, H, W, C]`,
`log_prob`, `bits_per_dim` and the scores of `score` are `[n]`, `num_samples`,
`temperature` and `num_steps` are scalars and `seed` is `[2]`. The model's own
`H, W, C` are checked by the server; an export binds them to its image shape
(`image_sizes`).

A class-conditional flow (`num_classes = K`) has the signatures of
`CONDITIONAL_SIGNATURES`: the same names, each with `labels` (int32, one
label in `[0, K)` per image, `[n]`; `sample`'s `[num_samples]` replace
`num_samples`), the marginal density beside the conditional one, `guidance`
for `sample`, and `classify`, whose `log_probs` are `[n, K]`. `K` is a name
too: the client learns it from the response. The clients pick the table
from a request: one with `labels` is for a class-conditional model
(`is_conditional_request`).

Every float output is finite (`Signature.finite_outputs`): a signature whose
model computes NaN or inf returns an error instead of an answer, and the
clients refuse a response that holds NaN, `Infinity` or `-Infinity` there.

#### Examples

```python
from tfnvp.export import contract
contract.signature("sample").inputs      # {"num_samples": "int32", ...}
images = contract.SIGNATURES["encode"].input_shapes["images"]
contract.format_shape(images)            # "[n, H, W, C]"
sizes = contract.image_sizes((28, 28, 1))
contract.format_shape(contract.bind(images, sizes))   # "[n, 28, 28, 1]"
contract.signature("sample", conditional=True).inputs
# {"labels": "int32", "guidance": "float32", "temperature": "float32",
#  "seed": "int64"}
```
"""

import dataclasses

__all__ = ["CONDITIONAL_SIGNATURES", "SIGNATURES", "Signature", "bind",
           "format_shape", "image_sizes", "is_conditional_request",
           "signature", "signatures"]

# The names of an image's sizes, which the model's image shape binds.
_IMAGE_SIZES = ("H", "W", "C")
_IMAGES = ("n", *_IMAGE_SIZES)


@dataclasses.dataclass(frozen=True)
class Signature:
  """One signature: names, dtypes (NumPy names) and shapes of its tensors.

  Attributes:
    inputs: `{input name: dtype name}`.
    outputs: `{output name: dtype name}`.
    doc: what the signature computes.
    input_shapes: `{input name: shape}`, shapes as in the module docstring.
    output_shapes: `{output name: shape}`.
  """

  inputs: dict
  outputs: dict
  doc: str
  input_shapes: dict
  output_shapes: dict

  @property
  def finite_outputs(self):
    """The names of the outputs that are finite: every float output."""
    return tuple(name for name, dtype in self.outputs.items()
                 if dtype.startswith("float"))


SIGNATURES = {
    "serving_default": Signature(
        inputs={"images": "uint8"},
        outputs={"log_prob": "float32", "bits_per_dim": "float32"},
        doc="8-bit images -> log-density and bits/dim at the pixel centres "
            "(pixel k is evaluated at k + 0.5).",
        input_shapes={"images": _IMAGES},
        output_shapes={"log_prob": ("n",), "bits_per_dim": ("n",)}),
    "log_prob": Signature(
        inputs={"images": "float32"},
        outputs={"log_prob": "float32"},
        doc="dequantized pixels in [0, 256) -> log-density in pixel space.",
        input_shapes={"images": _IMAGES},
        output_shapes={"log_prob": ("n",)}),
    "sample": Signature(
        inputs={"num_samples": "int32", "temperature": "float32",
                "seed": "int64"},
        outputs={"images": "float32", "pixels": "uint8"},
        doc="stateless samples at a temperature: continuous `images` and "
            "their 8-bit `pixels` (floor, clipped to [0, 255]).",
        input_shapes={"num_samples": (), "temperature": (), "seed": (2,)},
        output_shapes={"images": ("num_samples", "H", "W", "C"),
                       "pixels": ("num_samples", "H", "W", "C")}),
    "encode": Signature(
        inputs={"images": "float32"},
        outputs={"z": "float32"},
        doc="pixels -> the multi-scale latent code, in one image-shaped "
            "tensor.",
        input_shapes={"images": _IMAGES},
        output_shapes={"z": _IMAGES}),
    "decode": Signature(
        inputs={"z": "float32"},
        outputs={"images": "float32"},
        doc="latent code -> pixels; the inverse of `encode`.",
        input_shapes={"z": _IMAGES},
        output_shapes={"images": _IMAGES}),
    "interpolate": Signature(
        inputs={"images_a": "float32", "images_b": "float32",
                "num_steps": "int32"},
        outputs={"images": "float32"},
        doc="pairs of images -> `num_steps` images along "
            "z = cos(phi) z_a + sin(phi) z_b, phi from 0 to pi/2.",
        input_shapes={"images_a": _IMAGES, "images_b": _IMAGES,
                      "num_steps": ()},
        output_shapes={"images": ("n", "num_steps", "H", "W", "C")}),
    "score": Signature(
        inputs={"images": "uint8"},
        outputs={"bits_per_dim": "float32",
                 "complexity_bits_per_dim": "float32",
                 "ood_score": "float32", "typicality": "float32",
                 "is_outlier": "bool"},
        doc="8-bit images -> out-of-distribution scores (`tfnvp.ood`): "
            "bits/dim of the 8-bit pixels (4 noise patterns), PNG "
            "complexity bits/dim, "
            "ood_score = their difference, typicality |bpd - mu| / sigma, "
            "and is_outlier at the export's calibrated threshold. Exported "
            "with a calibration only.",
        input_shapes={"images": _IMAGES},
        output_shapes={name: ("n",) for name in (
            "bits_per_dim", "complexity_bits_per_dim", "ood_score",
            "typicality", "is_outlier")}),
}


def _given_labels(name, doc, inputs=(), outputs=(), replaces=None):
  """The conditional signature: `SIGNATURES[name]` with more tensors.

  Args:
    name: a key of `SIGNATURES`.
    doc: what the signature does with `labels`, appended to its doc.
    inputs: `(name, dtype, shape)` of each added input: in place of the
      input it `replaces`, else after the others.
    outputs: `(name, dtype, shape)` of each added output, after the others.
    replaces: the name of an input of `SIGNATURES[name]` it drops, or `None`.
  """
  base = SIGNATURES[name]

  def extend(table, added):
    items = list(table.items())
    at = len(items)
    if replaces in table:
      at = list(table).index(replaces)
      del items[at]
    return dict(items[:at] + list(added) + items[at:])

  return Signature(
      inputs=extend(base.inputs, [(n, dtype) for n, dtype, _ in inputs]),
      outputs=extend(base.outputs, [(n, dtype) for n, dtype, _ in outputs]),
      doc=f"{base.doc} {doc}",
      input_shapes=extend(base.input_shapes,
                          [(n, shape) for n, _, shape in inputs]),
      output_shapes=extend(base.output_shapes,
                           [(n, shape) for n, _, shape in outputs]))


# One label per image of the batch.
_LABELS = ("labels", "int32", ("n",))

# A class-conditional flow's signatures (`num_classes = K`): each takes one
# label per image in `[0, K)`, and `sample` one per sample instead of
# `num_samples`. `classify` is new; `score` is the unconditional one (the
# marginal density).
CONDITIONAL_SIGNATURES = {
    "serving_default": _given_labels(
        "serving_default",
        "Given `labels`: log p(x | y) and its bits/dim, and the marginal "
        "log p(x) = logsumexp_y log p(x | y) - log K and its bits/dim.",
        inputs=[_LABELS],
        outputs=[("marginal_log_prob", "float32", ("n",)),
                 ("marginal_bits_per_dim", "float32", ("n",))]),
    "log_prob": _given_labels(
        "log_prob", "Given `labels`: log p(x | y), and the marginal log p(x).",
        inputs=[_LABELS],
        outputs=[("marginal_log_prob", "float32", ("n",))]),
    "sample": _given_labels(
        "sample",
        "One sample per label of `labels` (their number replaces "
        "`num_samples`), at classifier-free `guidance` w >= 0 (0: p(x | y); "
        "w > 0 needs a model trained with label dropout).",
        inputs=[("labels", "int32", ("num_samples",)),
                ("guidance", "float32", ())],
        replaces="num_samples"),
    "encode": _given_labels(
        "encode", "Each image with its label's map f_y.", inputs=[_LABELS]),
    "decode": _given_labels(
        "decode", "Each latent with its label's inverse map.",
        inputs=[_LABELS]),
    "interpolate": _given_labels(
        "interpolate",
        "Each pair is encoded and its path decoded with its label.",
        inputs=[_LABELS]),
    "classify": Signature(
        inputs={"images": "uint8"},
        outputs={"log_probs": "float32", "label": "int32"},
        doc="8-bit images -> the Bayes classifier at the pixel centres: "
            "log p(y | x) for each class y (uniform p(y)) and its argmax.",
        input_shapes={"images": _IMAGES},
        output_shapes={"log_probs": ("n", "K"), "label": ("n",)}),
    "score": SIGNATURES["score"],
}


def signatures(conditional):
  """`CONDITIONAL_SIGNATURES` if `conditional`, else `SIGNATURES`."""
  return CONDITIONAL_SIGNATURES if conditional else SIGNATURES


def is_conditional_request(input_names):
  """Whether a request is for a class-conditional model: it gives `labels`.

  Args:
    input_names: the names of the request's inputs (a `dict` of inputs).

  Returns:
    Python `bool`.
  """
  return "labels" in input_names


def signature(name, conditional=False):
  """The `Signature` called `name`.

  Args:
    name: a key of `SIGNATURES` or `CONDITIONAL_SIGNATURES`.
    conditional: Python `bool`, whether the model is class-conditional;
      `classify` is a class-conditional model's whatever its value.

  Returns:
    `signatures(conditional)[name]`, or `CONDITIONAL_SIGNATURES[name]`.

  Raises:
    ValueError: for another name; the message names `signature_name`, the
      argument of the clients' `predict`.
  """
  if name in SIGNATURES and not conditional:
    return SIGNATURES[name]
  if name in CONDITIONAL_SIGNATURES:
    return CONDITIONAL_SIGNATURES[name]
  raise ValueError(f"`signature_name` must be one of "
                   f"{list(CONDITIONAL_SIGNATURES)}; got {name!r}.")


def image_sizes(image_shape):
  """`{"H": height, "W": width, "C": channels}` of a model's image shape."""
  return dict(zip(_IMAGE_SIZES, image_shape))


def bind(shape, sizes):
  """`shape` with each name that `sizes` gives replaced by its size.

  Args:
    shape: a shape of this table (ints and names).
    sizes: `{name: int}`, e.g. `image_sizes(flow.image_shape)`.

  Returns:
    A tuple of ints and the names `sizes` does not give.
  """
  return tuple(sizes.get(dim, dim) if isinstance(dim, str) else dim
               for dim in shape)


def format_shape(shape):
  """A shape as messages write it: `("n", "H", 2)` -> `"[n, H, 2]"`."""
  return "[" + ", ".join(map(str, shape)) + "]"
