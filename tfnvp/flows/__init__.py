"""Flows assembled from tfnvp's bijectors and networks."""

from tfnvp.flows.glow import Glow
from tfnvp.flows.glow import GlowLayers
from tfnvp.flows.glow import glow_level_shapes
from tfnvp.flows.image_flow import ImageFlow
from tfnvp.flows.real_nvp import CouplingSpec
from tfnvp.flows.real_nvp import RealNVP
from tfnvp.flows.real_nvp import RealNVPLayers
from tfnvp.flows.real_nvp import coupling_plan

__all__ = [
    "CouplingSpec",
    "Glow",
    "GlowLayers",
    "ImageFlow",
    "RealNVP",
    "RealNVPLayers",
    "coupling_plan",
    "glow_level_shapes",
]
