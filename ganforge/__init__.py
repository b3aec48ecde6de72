"""ganforge: train, sample and evaluate deep generative image models.

``ganforge.train(preset, out, **overrides)`` runs what ``ganforge train`` runs and ``ganforge.load(run_dir)``
returns the trained model with ``.sample(n, seed=..., labels=None)`` giving uint8 images (N, C, H, W).
``ganforge.keep_freed_memory()`` applies the allocator setting the command line uses (:mod:`.allocator`).
"""
__version__ = "0.1.0"

from .allocator import keep_freed_memory  # noqa: E402
from .api import TrainedModel, load, train  # noqa: E402
from .errors import GanforgeError  # noqa: E402

__all__ = ["train", "load", "TrainedModel", "GanforgeError", "keep_freed_memory", "__version__"]
