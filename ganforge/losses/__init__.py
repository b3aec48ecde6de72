"""Adversarial losses as registered pure functions."""
from .base import LOSSES, AdversarialLoss
from . import extra, gan, wasserstein  # noqa: E402,F401  (registers every loss)

__all__ = ["LOSSES", "AdversarialLoss"]
