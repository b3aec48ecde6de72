"""The metric registry of ``ganforge eval`` / ``score``: thin wrappers from features to named values.

Each entry is ``fn(real, fake, ctx) -> {name: value}`` over the features of the reference (``real``) and
generated (``fake``) sides, with the features it wants by default and the protocol parameters it records.
The formulas live in :mod:`ganforge.metrics` (one module per metric, citing paper and equation); a wrapper
only picks arguments, and may leave JSON details and a picture for the report with ``ctx.keep``.
``ctx`` is a :class:`ganforge.evaluation.context.Context`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from .. import metrics as M
from ..errors import GanforgeError, GanforgeWarning
from ..features.pixels import PixelFeatures
from ..registry import Registry
from .panels import K, PAD, ROWS, compose, nearest_training_images

if TYPE_CHECKING:
    from .context import Context


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``fn(real, fake, ctx) -> {name: value}`` and its default features.

    ``ctx`` is a :class:`~ganforge.evaluation.context.Context`: the reference spec, the generated side (images and
    labels), a way to get features of other splits of the reference dataset (Parzen's validation set,
    the training set for memorisation checks) and ``keep`` for details and pictures. ``needs_labels``:
    the metric needs the labels the generated images were made for (checked before any features).
    """

    fn: Callable[[np.ndarray, np.ndarray, "Context"], dict]
    features: str
    params: dict
    needs_labels: bool = False
    needs_logits: bool = False  # class logits: a softmax or argmax of the features must mean something
    needs_pairs: bool = False  # each generated image's target (a paired run, pix2pix); features unused
    needs_cycles: bool = False  # each generated image's source and reconstruction (an unpaired run, CycleGAN)
    needs_sources: bool = False  # the real image each generated image modifies (an image-modifying run, ModNet)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, features: str, needs_labels: bool = False, needs_logits: bool = False,
                    needs_pairs: bool = False, needs_cycles: bool = False, needs_sources: bool = False, **params):
    """Decorator registering ``fn`` as metric ``name`` computed on ``features`` by default."""
    def wrap(fn):
        METRICS.register(name)(Metric(fn, features, params, needs_labels, needs_logits, needs_pairs, needs_cycles,
                                      needs_sources))
        return fn
    return wrap


def check_logits(name: str, features: str) -> None:
    """Metrics on class probabilities (IS, mode coverage, conditional accuracy) need logits features."""
    base = features.split(":", 1)[0]
    if base in ("classifier", "inception-logits"):
        return
    if base == "inception":
        raise GanforgeError(f"{name} needs class logits, and the inception features are 2048-d pool_3 "
                            f"features; use --features inception-logits (Inception's 1008 logits, from the "
                            f"pytorch-fid file) or --features classifier (the dataset classifier's logits)")
    raise GanforgeError(f"{name} needs class logits; features {features!r} are not (use --features classifier)")


@register_metric("fid", "inception")
def _fid(real, fake, ctx):
    return {"fid": M.frechet_distance(real, fake)}


@register_metric("kid", "inception", kernel="(x.y/d + 1)^3", subsets=100, subset_size="min(1000, n1, n2)",
                 seed=0)
def _kid(real, fake, ctx):
    mean, std = M.kid(real, fake, subset_size=min(1000, len(real), len(fake)), subsets=100, seed=0)
    return {"kid": mean, "kid_std": std}


@register_metric("prdc", "inception", k_precision_recall=3, k_density_coverage=5)
def _prdc(real, fake, ctx):
    precision, recall = M.precision_recall(real, fake, k=3)
    density, coverage = M.density_coverage(real, fake, k=5)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@register_metric("ddm", "classifier", distance="||t-g||^2 / 2", equation="Basart 2017 eq. 3.4")
def _ddm(real, fake, ctx):
    return {"ddm": M.ddm(real, fake)}


DDM_TRAIN = "DATASET:train[:N], the first N training images, N = the reference's size"


@register_metric("ddm-relative", "classifier", distance="||t-g||^2 / 2", equation="Basart 2017 eq. 3.5",
                 train=DDM_TRAIN)
def _ddm_relative(real, fake, ctx):
    """Eq. 3.5: training-to-test against training-to-generated affinities (0 when G matches T)."""
    return {"ddm_relative": M.ddm_relative(_ddm_train(real, ctx), real, fake)}


@register_metric("ddm-sum", "classifier", distance="||t-g||^2 / 2", equation="Basart 2017 eq. 3.4 + eq. 3.5",
                 train=DDM_TRAIN)
def _ddm_sum(real, fake, ctx):
    """The sum of eq. 3.4 and eq. 3.5, the combination the thesis weighs (section 3.2)."""
    return {"ddm_sum": M.ddm(real, fake) + M.ddm_relative(_ddm_train(real, ctx), real, fake)}


def _ddm_train(real, ctx):
    return ctx.features(ctx.dataset_split(f"train[:{len(real)}]", "ddm-relative"))


@register_metric("is", "classifier", needs_logits=True, splits=10, shuffle_seed=0)
def _inception_score(real, fake, ctx):
    """Inception Score of the generated side on the dataset classifier's logits."""
    order = np.random.default_rng(0).permutation(len(fake))  # splits must not follow a class-sorted order
    mean, std = M.inception_score(fake[order], splits=min(10, len(fake)))
    return {"is": mean, "is_std": std}


@register_metric("modes", "classifier", needs_logits=True, histogram="argmax of logits")
def _mode_coverage(real, fake, ctx):
    """Mode coverage: classes the classifier finds among generated images and KL(p_gen || p_real).

    Keeps both class histograms (counts per class, with the dataset's class names) for the report."""
    k = real.shape[1]
    counts_real, counts_gen = (np.bincount(x.argmax(1), minlength=k) for x in (real, fake))
    p_real, p_gen = counts_real / len(real), counts_gen / len(fake)
    hit = p_gen > 0
    kl = float(np.sum(p_gen[hit] * np.log(p_gen[hit] / np.maximum(p_real[hit], 1e-12))))
    names = ctx.class_names if ctx.class_names and len(ctx.class_names) == k else [str(c) for c in range(k)]
    ctx.keep("modes", {"classes": list(names), "generated": counts_gen.tolist(),
                       "reference": counts_real.tolist()})
    return {"classes_hit": int(hit.sum()), "class_kl": kl}


@register_metric("cond-acc", "classifier", needs_labels=True, needs_logits=True,
                 labels="the labels the images were generated for (run: i mod K; .npz: its labels array)",
                 reference="Odena et al. 2017 (ACGAN); Shmelkov et al. 2018 (GAN-test)")
def _conditional_accuracy(real, fake, ctx):
    """Share of generated images the dataset classifier labels as the class they were generated for."""
    return {"cond_acc": M.conditional_accuracy(fake, ctx.generated_labels("cond-acc"))}


@register_metric("parzen", "pixels", sigma_grid="numpy.logspace(-1, 0, 10)", valid="DATASET:valid[:1000]",
                 reference="Goodfellow et al. 2014, Generative Adversarial Nets, section 5 (Parzen window)")
def _parzen(real, fake, ctx):
    """Parzen-window log-likelihood of the reference (test) images under the generated samples.

    sigma maximises the mean log-likelihood of 1,000 held-out training images (the ``valid`` split, the
    last 10,000 training images); the result is the test mean +- its standard error (std / sqrt(n)).
    Most models train on all of ``train``, ``valid`` included: then sigma is chosen on images the model
    has seen, which favours a small sigma (and a memorising model). That is checked on the images
    themselves, recorded in the protocol and warned about (:func:`_valid_seen_in_training`).
    """
    valid_spec = ctx.dataset_split("valid[:1000]", "parzen")
    ctx.notes["parzen"] = _valid_seen_in_training(ctx, valid_spec)
    valid = ctx.features(valid_spec)
    sigma = M.select_parzen_sigma(fake, valid)
    ll = M.parzen_log_likelihood(fake, real, sigma)
    return {"parzen": float(ll.mean()), "parzen_se": float(ll.std() / np.sqrt(len(ll))), "parzen_sigma": sigma}


@register_metric("parzen-pca", "pixels", sigma_grid="numpy.logspace(-1, 0, 10)", valid="DATASET:valid[:1000]",
                 pca="the fewest principal components of DATASET:train[:10000] holding 95% of the variance",
                 reference="Basart 2017, section 3.3 (Parzen on principal components); Goodfellow et al. 2014")
def _parzen_pca(real, fake, ctx):
    """:func:`_parzen` after projecting every side on the principal components of 10,000 training images
    that hold 95% of their variance (a density in k dimensions: compare it only with other parzen-pca values)."""
    valid_spec = ctx.dataset_split("valid[:1000]", "parzen-pca")
    ctx.notes["parzen-pca"] = _valid_seen_in_training(ctx, valid_spec)
    mean, basis = M.pca_basis(ctx.features(ctx.dataset_split("train[:10000]", "parzen-pca")), 0.95)
    real, fake, valid = ((np.asarray(x, dtype=np.float64) - mean) @ basis
                         for x in (real, fake, ctx.features(valid_spec)))
    sigma = M.select_parzen_sigma(fake, valid)
    ll = M.parzen_log_likelihood(fake, real, sigma)
    return {"parzen_pca": float(ll.mean()), "parzen_pca_se": float(ll.std() / np.sqrt(len(ll))),
            "parzen_pca_sigma": sigma, "parzen_pca_dims": int(basis.shape[1])}


def _valid_seen_in_training(ctx, valid_spec: str) -> dict:
    """How many of Parzen's validation images are in the generated run's training data (compared as
    images, so any split or slice spelling is caught); warns when the share exceeds 1%."""
    trained_on = ctx.generated.trained_on if ctx.generated is not None else None
    if trained_on is None:
        return {"valid_in_training": "unknown (the generated input is not a run directory)"}
    def rows(images):  # each image as bytes, to compare exactly
        return [bytes(row) for row in images.reshape(len(images), -1).numpy()]

    seen = set(rows(ctx.images(trained_on)))
    valid = ctx.images(valid_spec)
    hits = sum(row in seen for row in rows(valid))
    if hits > 0.01 * len(valid):
        warnings.warn(f"parzen: {hits} of the {len(valid)} images sigma is chosen on ({valid_spec}) are in the "
                      f"run's training data ({trained_on}); the log-likelihood is optimistic (train on "
                      f"DATASET:train50k, as goodfellow-mnist does, for the paper's protocol)", GanforgeWarning,
                      stacklevel=2)
    return {"valid_in_training": f"{hits}/{len(valid)}", "trained_on": trained_on}


@register_metric("memorisation", "pixels", train="DATASET:train", distance="euclidean",
                 panel=f"the {ROWS} generated images nearest to train, each with its {K} nearest train images "
                       "in pixels [0, 1]")
def _memorisation(real, fake, ctx):
    """Generated-to-train vs test-to-train nearest-neighbour distances (Basart's memorisation check),
    and the nearest-neighbour panel of the generated images closest to the training set."""
    train_spec = ctx.dataset_split("train", "memorisation")
    summary = M.memorisation_summary(fake, ctx.features(train_spec), real, top=ROWS)
    if ctx.generated is not None:
        in_pixels = isinstance(ctx.extractor, PixelFeatures)  # then the summary's order is the pixel order
        order = [pair[0] for pair in summary["closest_pairs"]] if in_pixels else None
        train = ctx.images(train_spec)
        found = nearest_training_images(ctx.generated.images, train, order=order)
        ctx.keep("memorisation", {"train": train_spec, "space": "pixels in [0, 1], euclidean", "pad": PAD,
                                  "rows": found.to_json()},
                 picture=("neighbours", compose(ctx.generated.images, train, found)))
    return {"nn_median_ratio": summary["median_ratio"], "nn_share_below_test_p1": summary["share_below_test_p1"]}


# ---------------------------------------------------------------- paired image-to-image metrics (pix2pix)

PAIRED_PROTOCOL = {"pairs": "each output of the run against its own target: n test-split pairs, drawn without "
                            "repetition with the seed", "range": "uint8 / 255, R = 1",
                   "baseline": "<name>_input: the task's inputs against the same targets (srgan: the bicubic "
                               "upsampling of its low-resolution inputs)"}


def _paired(name: str, ctx) -> dict:
    """``name`` (l1, psnr or ssim) of the generated side's outputs and of its inputs, against its targets."""
    side = ctx.generated
    if side is None or side.targets is None:
        raise GanforgeError(f"{name} compares each output with its own target; {side.spec if side else 'the input'}"
                            f" has no targets (expected a run of a paired image-to-image family, e.g. pix2pix)")
    value = M.paired_scores(side.images, side.targets)[name]
    baseline = M.paired_scores(side.inputs, side.targets)[name]
    return {name: value, f"{name}_input": baseline}


@register_metric("l1", "pixels", needs_pairs=True, definition="mean |output - target| per pixel", **PAIRED_PROTOCOL)
def _l1(real, fake, ctx):
    return _paired("l1", ctx)


@register_metric("psnr", "pixels", needs_pairs=True, definition="mean over images of 10 log10(R^2 / MSE)",
                 **PAIRED_PROTOCOL)
def _psnr(real, fake, ctx):
    return _paired("psnr", ctx)


@register_metric("ssim", "pixels", needs_pairs=True, window="11x11 Gaussian, sigma 1.5, valid windows only",
                 constants="K1 0.01, K2 0.03", reference="Wang et al. 2004", **PAIRED_PROTOCOL)
def _ssim(real, fake, ctx):
    return _paired("ssim", ctx)


# ---------------------------------------------------------------- unpaired image-to-image metrics (CycleGAN)

@register_metric("cycle", "pixels", needs_cycles=True, definition="F(G(x)) against x: mean |difference| per "
                 "pixel, mean PSNR, mean SSIM (as l1, psnr, ssim)", range="uint8 / 255, R = 1",
                 images="n test images x of the run's data, drawn without repetition with the seed",
                 reference="Zhu et al. 2017, CycleGAN, eq. 2 (forward cycle consistency)")
def _cycle(real, fake, ctx):
    """How well the run's F undoes its G on test images: the forward cycle's reconstruction error."""
    side = ctx.generated
    if side is None or side.reconstructions is None:
        raise GanforgeError(f"cycle compares each reconstruction F(G(x)) with its x; "
                            f"{side.spec if side else 'the input'} has none (expected a run of an unpaired "
                            f"image-to-image family, e.g. cyclegan)")
    scores = M.paired_scores(side.reconstructions, side.inputs)
    return {f"cycle_{k}": v for k, v in scores.items()}


@register_metric("target-class", "classifier", needs_labels=True, needs_logits=True,
                 labels="the class of the run's data_target (its test split must be of one class)",
                 reference="the CycleGAN issue's check: translations classified as the target class in > 80%")
def _target_class(real, fake, ctx):
    """Share of translations the dataset classifier assigns to the target domain's class."""
    return {"target_class": M.conditional_accuracy(fake, ctx.generated_labels("target-class"))}


# ---------------------------------------------------------------- image-modifying runs (ModNet)

SOURCES_MISSING = ("{name} compares each modification with the real image it modifies; {spec} has no source "
                   "images (expected a run of an image-modifying family, e.g. modnet)")


@register_metric("change", "pixels", needs_sources=True, range="uint8 / 255 (pixels in [0, 1])",
                 definition="each modification against its own source image: change_l1 = mean |result - source| "
                            "per pixel, change_l2 = mean over images of ||result - source||_2",
                 images="n test images, each sent to target class i mod K (as cond-acc)",
                 reference="Basart 2017, Analysis of Generative Adversarial Models, section 2.5.3 (the size of "
                           "the change a ModNet makes)")
def _change(real, fake, ctx):
    """How much a ModNet changes the images it modifies, in pixels on the [0, 1] scale."""
    side = ctx.generated
    if side is None or side.sources is None:
        raise GanforgeError(SOURCES_MISSING.format(name="change", spec=side.spec if side else "the input"))
    result, source = side.images.double() / 255, side.sources.double() / 255
    return {"change_l1": float(M.l1_error(result, source).mean()),
            "change_l2": float(M.l2_distance(result, source).mean())}
