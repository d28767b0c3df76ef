"""Proxy models: networks and cheap models trained on pilot labels that rank records cheaply.

The model side of the proxy pipeline, independent of the store and the engine:

- :func:`select_proxy` cross-validates candidate proxies on a labelled pilot (the
  AFNO network fine-tuned from a pretrained backbone, a linear probe on the
  backbone's features, logistic regression on downsampled pixels), picks the one
  with the best cross-validated AUC, fits and calibrates it, and returns the
  pilot's cross-fitted scores; :mod:`abae.proxy.backbone` pretrains the backbone
  on unlabelled images (masked inpainting) and caches it per collection;
- :func:`train_proxy` trains one AFNO classifier (predicate) or regressor
  (statistic) from random weights, calibrated on a held-out part;
- :class:`Proxy` scores images: :meth:`Proxy.score_batch` for one batch (the unit
  an executor runs), :meth:`Proxy.score` for any number with a progress bar;
- :func:`score_batch` is the pure network step: network and input in, raw outputs out;
- :func:`save_proxy` / :func:`load_proxy`: weights-only checkpoints carrying the
  calibration and the image spec, so a proxy trained elsewhere can score here;
- :class:`ImageSpec` and :func:`read_image_files` check and decode images, with
  errors (:class:`ImageInputError`) that name the record or file.

The store side (pilot labels through the ledger, the backbone cache, score
columns, the catalog) is :mod:`abae.proxy.store_pipeline`.

Example:
    >>> from abae.datasets.fashion_mnist import load_fashion_mnist, predicate_truth
    >>> data = load_fashion_mnist("train")  # doctest: +SKIP
    >>> labels = predicate_truth(data.labels[:400], "is_trouser")  # doctest: +SKIP
    >>> chosen = select_proxy(data.images[:400], labels, candidates=("pixels_logistic",))  # doctest: +SKIP
    >>> scores = chosen.proxy.score(data.images)  # calibrated P(is_trouser), float64 (60000,)  # doctest: +SKIP
"""

from abae.proxy.backbone import default_patch_size
from abae.proxy.calibration import PlattCalibration
from abae.proxy.checkpoint import ProxyCheckpointError, load_proxy, save_proxy
from abae.proxy.cross_validation import PilotTooSmallError
from abae.proxy.image_files import read_image_file, read_image_files
from abae.proxy.image_spec import ImageInputError, ImageSpec
from abae.proxy.pilot_labels import PilotShortfallError
from abae.proxy.ranking_quality import roc_auc
from abae.proxy.scoring import ImageSource, score_batch, score_in_batches
from abae.proxy.selection import CANDIDATE_NAMES, WEAK_AUC, ProxySelection, select_proxy
from abae.proxy.trained_proxy import PROXY_TASKS, Proxy, ProxyTask, TargetScale
from abae.proxy.training import train_proxy

__all__ = [
    "CANDIDATE_NAMES",
    "PROXY_TASKS",
    "WEAK_AUC",
    "ImageInputError",
    "ImageSource",
    "ImageSpec",
    "PilotShortfallError",
    "PilotTooSmallError",
    "PlattCalibration",
    "Proxy",
    "ProxyCheckpointError",
    "ProxySelection",
    "ProxyTask",
    "TargetScale",
    "default_patch_size",
    "load_proxy",
    "read_image_file",
    "read_image_files",
    "roc_auc",
    "save_proxy",
    "score_batch",
    "score_in_batches",
    "select_proxy",
    "train_proxy",
]
