"""Network building blocks and the registered generators and discriminators."""
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape, build_net, make_args

# Importing the modules registers their networks.
from . import dcgan, goodfellow, lucic  # noqa: E402,F401

__all__ = ["DISCRIMINATORS", "GENERATORS", "Discriminator", "Generator", "NetShape", "build_net", "make_args"]
