"""Feature extractors (registered): ``inception`` (FID/KID), ``inception-logits`` (Inception Score, from
the user's pytorch-fid file), ``classifier`` / ``classifier-prelogits``
(the dataset classifier: DDM, classifier-IS, class histograms), ``pixels`` (Parzen, pixel neighbours)."""
from .base import FEATURES, FeatureExtractor, extract
from . import classifier, inception, inception_logits, pixels  # noqa: E402,F401  (registers the extractors)
from .inception import fetch_inception

__all__ = ["FEATURES", "FeatureExtractor", "extract", "fetch_inception"]
