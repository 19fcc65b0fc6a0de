"""The serving contract: each signature's input and output names and dtypes.

The SavedModel written by `export.serving.export_saved_model` and the clients
in `export.client` both read this table, so the names a client sends are the
names the model declares. Shapes: `images` and `z` are `[batch, H, W, C]`,
`images` of `interpolate` is `[batch, num_steps, H, W, C]`, `log_prob` and
`bits_per_dim` are `[batch]`, `num_samples`, `temperature` and `num_steps`
are scalars and `seed` is `[2]`.
"""

import dataclasses

__all__ = ["SIGNATURES", "Signature"]


@dataclasses.dataclass(frozen=True)
class Signature:
  """Names and dtypes (NumPy names) of one signature's inputs and outputs."""

  inputs: dict
  outputs: dict
  doc: str


SIGNATURES = {
    "serving_default": Signature(
        inputs={"images": "uint8"},
        outputs={"log_prob": "float32", "bits_per_dim": "float32"},
        doc="8-bit images -> log-density and bits/dim at the pixel centres "
            "(pixel k is evaluated at k + 0.5)."),
    "log_prob": Signature(
        inputs={"images": "float32"},
        outputs={"log_prob": "float32"},
        doc="dequantized pixels in [0, 256) -> log-density in pixel space."),
    "sample": Signature(
        inputs={"num_samples": "int32", "temperature": "float32",
                "seed": "int64"},
        outputs={"images": "float32", "pixels": "uint8"},
        doc="stateless samples at a temperature: continuous `images` and "
            "their 8-bit `pixels` (floor, clipped to [0, 255])."),
    "encode": Signature(
        inputs={"images": "float32"},
        outputs={"z": "float32"},
        doc="pixels -> the multi-scale latent code, in one image-shaped "
            "tensor."),
    "decode": Signature(
        inputs={"z": "float32"},
        outputs={"images": "float32"},
        doc="latent code -> pixels; the inverse of `encode`."),
    "interpolate": Signature(
        inputs={"images_a": "float32", "images_b": "float32",
                "num_steps": "int32"},
        outputs={"images": "float32"},
        doc="pairs of images -> `num_steps` images along "
            "z = cos(phi) z_a + sin(phi) z_b, phi from 0 to pi/2."),
}
