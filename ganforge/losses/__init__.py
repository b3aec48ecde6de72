"""Adversarial losses as registered pure functions."""
from .base import LOSSES, AdversarialLoss
from . import gan  # noqa: E402,F401  (registers minimax and non-saturating)

__all__ = ["LOSSES", "AdversarialLoss"]
