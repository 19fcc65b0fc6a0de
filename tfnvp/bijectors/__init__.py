"""Real NVP bijectors, `tfb.Bijector` subclasses on `[H, W, C]` events.

Every bijector's `forward` is the data-to-latent direction;
`tfnvp.RealNVP` wraps the composed flow in `tfb.Invert` for its
`TransformedDistribution`.
"""

from tfnvp.bijectors.actnorm import ActNorm
from tfnvp.bijectors.affine_coupling import AffineCoupling
from tfnvp.bijectors.affine_coupling import coupling_mask
from tfnvp.bijectors.batch_norm import BatchNorm
from tfnvp.bijectors.class_prior import ClassPrior
from tfnvp.bijectors.factor_out import FactorOut
from tfnvp.bijectors.invertible_conv1x1 import InvertibleConv1x1
from tfnvp.bijectors.logit_transform import LogitTransform
from tfnvp.bijectors.squeeze import Squeeze

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "BatchNorm",
    "ClassPrior",
    "FactorOut",
    "InvertibleConv1x1",
    "LogitTransform",
    "Squeeze",
    "coupling_mask",
]
