"""Feature extractors (registered): ``inception`` (FID/KID), ``pixels`` (Parzen, pixel neighbours)."""
from .base import FEATURES, FeatureExtractor, extract
from . import inception, pixels  # noqa: E402,F401  (registers the extractors)
from .inception import fetch_inception

__all__ = ["FEATURES", "FeatureExtractor", "extract", "fetch_inception"]
