"""Model families (registered): each owns its networks and implements d_step / g_step."""
from .base import FAMILIES, Batch, Family, to_uint8
from . import gan  # noqa: E402,F401

__all__ = ["FAMILIES", "Batch", "Family", "to_uint8"]
