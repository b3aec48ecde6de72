"""Evaluation metrics as pure functions: numpy or torch arrays in, Python floats / numpy arrays out.

Every function validates its inputs (2-D arrays with matching feature dimensions, else
:class:`~ganforge.errors.GanforgeError`), works in float64, and, where it needs pairwise distances,
takes a ``chunk`` argument (rows per distance block) that changes memory use but not the result.
See each module's docstring for the paper, equation and protocol it follows.
"""
from .conditional import conditional_accuracy
from .ddm import ddm, ddm_relative
from .density_coverage import density_coverage
from .frechet import frechet_distance, frechet_from_stats
from .inception_score import inception_score
from .kid import kid
from .nearest_neighbours import memorisation_summary, nearest_neighbour_distances
from .paired import l1_error, l2_distance, paired_scores, psnr, ssim
from .parzen import parzen_log_likelihood, pca_basis, select_parzen_sigma
from .precision_recall import precision_recall

__all__ = [
    "frechet_distance",
    "frechet_from_stats",
    "kid",
    "inception_score",
    "parzen_log_likelihood",
    "select_parzen_sigma",
    "pca_basis",
    "ddm",
    "ddm_relative",
    "precision_recall",
    "density_coverage",
    "nearest_neighbour_distances",
    "memorisation_summary",
    "conditional_accuracy",
    "l1_error",
    "l2_distance",
    "psnr",
    "ssim",
    "paired_scores",
]
