"""Flows assembled from tfnvp's bijectors and networks."""

from tfnvp.flows.real_nvp import CouplingSpec
from tfnvp.flows.real_nvp import RealNVP
from tfnvp.flows.real_nvp import RealNVPLayers
from tfnvp.flows.real_nvp import coupling_plan

__all__ = ["CouplingSpec", "RealNVP", "RealNVPLayers", "coupling_plan"]
