"""Keras layers used by tfnvp's bijectors: coupling networks and state."""

from tfnvp.networks.actnorm_parameters import ActNormParameters
from tfnvp.networks.conv1x1_parameters import InvertibleConv1x1Parameters
from tfnvp.networks.glow import GlowCouplingNetwork
from tfnvp.networks.glow import GlowSplitPrior
from tfnvp.networks.glow import ZeroConv2D
from tfnvp.networks.labels import ClassGaussianParameters
from tfnvp.networks.labels import LabelEmbedding
from tfnvp.networks.labels import fold_labelled_batch
from tfnvp.networks.moving_moments import MovingMoments
from tfnvp.networks.resnet import ResNetShiftAndLogScale
from tfnvp.networks.resnet import ResidualBlock
from tfnvp.networks.weight_norm import WeightNormConv2D

__all__ = [
    "ActNormParameters",
    "ClassGaussianParameters",
    "GlowCouplingNetwork",
    "GlowSplitPrior",
    "InvertibleConv1x1Parameters",
    "LabelEmbedding",
    "MovingMoments",
    "ResNetShiftAndLogScale",
    "ResidualBlock",
    "WeightNormConv2D",
    "ZeroConv2D",
    "fold_labelled_batch",
]
