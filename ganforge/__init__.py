"""ganforge: train, sample and evaluate deep generative image models.

``ganforge.train(preset, out, **overrides)`` runs what ``ganforge train`` runs and ``ganforge.load(run_dir)``
returns the trained model with ``.sample(n, seed=..., labels=None)`` giving uint8 images (N, C, H, W).
"""
__version__ = "0.1.0"

from .api import TrainedModel, load, train  # noqa: E402
from .errors import GanforgeError  # noqa: E402

__all__ = ["train", "load", "TrainedModel", "GanforgeError", "__version__"]
