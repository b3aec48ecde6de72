"""Network building blocks and the registered generators and discriminators."""
from .base import (DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape, build_from_spec, build_net,
                   make_args)

from ..registry import import_submodules

import_submodules(__name__, __path__)  # every module registers its networks: a new net is one new file

__all__ = ["DISCRIMINATORS", "GENERATORS", "Discriminator", "Generator", "NetShape", "build_from_spec", "build_net",
           "make_args"]
