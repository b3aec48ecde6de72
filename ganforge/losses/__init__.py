"""Adversarial losses as registered pure functions."""
from .base import LOSSES, AdversarialLoss
from . import extra, gan  # noqa: E402,F401  (registers mm, ns, lsgan, hinge)

__all__ = ["LOSSES", "AdversarialLoss"]
