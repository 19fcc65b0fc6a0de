"""Flows assembled from tfnvp's bijectors and networks."""

from tfnvp.flows.conditional import ConditionalImageFlow
from tfnvp.flows.conditional import ConditionedFlow
from tfnvp.flows.config import FlowConfig
from tfnvp.flows.glow import Glow
from tfnvp.flows.glow import GlowConfig
from tfnvp.flows.glow import GlowLayers
from tfnvp.flows.glow import glow_level_shapes
from tfnvp.flows.image_flow import ImageFlow
from tfnvp.flows.real_nvp import CouplingSpec
from tfnvp.flows.real_nvp import RealNVP
from tfnvp.flows.real_nvp import RealNVPConfig
from tfnvp.flows.real_nvp import RealNVPLayers
from tfnvp.flows.real_nvp import coupling_plan

__all__ = [
    "ConditionalImageFlow",
    "ConditionedFlow",
    "CouplingSpec",
    "FlowConfig",
    "Glow",
    "GlowConfig",
    "GlowLayers",
    "ImageFlow",
    "RealNVP",
    "RealNVPConfig",
    "RealNVPLayers",
    "coupling_plan",
    "glow_level_shapes",
]
