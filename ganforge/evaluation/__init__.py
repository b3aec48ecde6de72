"""Evaluation: image sets -> features (content-hash cache) -> registered metrics -> records with protocols.

=====================  =========================================================================
module                 job
=====================  =========================================================================
``inputs``             any input (``DATASET:SPLIT``, folder, ``.npz``/``.npy``, run) as a ``Side``
``cache``              features cached under the content hash of the images + extractor + weights
``registry``           the metric registry: thin wrappers over :mod:`ganforge.metrics`
``context``            what a metric wrapper may use besides the two feature arrays
``scoring``            ``score(a, b)``: metrics and their protocol
``records``            ``evaluate_run``: a run's checkpoint scored into ``RUN/eval/step-N.json``
``baseline``           the same metric of real training images: the line under a metric's curve
``history``            ``evaluate_history``: every kept checkpoint scored, reusing the records it can
``panels``             the nearest-neighbour picture
``during_training``    the ``eval_every`` callback the Trainer is handed
=====================  =========================================================================

Imports flow one way: this package builds on data, features, metrics and training (to load trained
models); the report reads the records it writes, and the CLI sits on top.
"""
from .baseline import baselines
from .cache import PREPROCESS, cached_features, content_hash, preprocessing
from .context import Context, Extras, make_extractor, no_labels_error
from .during_training import ClassifierMetrics, training_metrics
from .history import evaluate_history
from .inputs import Side, load_input, load_side
from .records import evaluate_run, merge_record, write_pictures
from .registry import METRICS, Metric, check_logits, register_metric
from .scoring import check_metric_names, score, score_with_extras

__all__ = ["PREPROCESS", "cached_features", "content_hash", "preprocessing", "Context", "Extras", "make_extractor",
           "baselines", "evaluate_history",
           "no_labels_error", "ClassifierMetrics", "training_metrics", "Side", "load_input", "load_side",
           "evaluate_run", "merge_record", "write_pictures", "METRICS", "Metric", "check_logits",
           "register_metric", "check_metric_names", "score", "score_with_extras"]
