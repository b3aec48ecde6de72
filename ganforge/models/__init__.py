"""Model families (registered): each owns its networks and implements d_step / g_step.

Every module of this package is imported, so a new family is one new file."""
from ..registry import import_submodules
from .base import FAMILIES, Batch, Family, SamplerRequest, generate_uint8, to_uint8

import_submodules(__name__, __path__)

__all__ = ["FAMILIES", "Batch", "Family", "SamplerRequest", "generate_uint8", "to_uint8"]
