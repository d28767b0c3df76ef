"""Proxy models: AFNO networks trained on pilot labels that rank records cheaply.

The model side of the proxy pipeline, independent of the store and the engine:

- :func:`train_proxy` trains a classifier (predicate) or regressor (statistic)
  on uint8 images and their oracle labels, and calibrates it on a held-out part;
- :class:`Proxy` scores images: :meth:`Proxy.score_batch` for one batch (the unit
  an executor runs), :meth:`Proxy.score` for any number with a progress bar;
- :func:`score_batch` is the pure network step: network and input in, raw outputs out;
- :func:`save_proxy` / :func:`load_proxy`: weights-only checkpoints carrying the
  calibration and the image spec, so a proxy trained elsewhere can score here;
- :class:`ImageSpec` and :func:`read_image_files` check and decode images, with
  errors (:class:`ImageInputError`) that name the record or file.

Example:
    >>> from abae.datasets.fashion_mnist import load_fashion_mnist, predicate_truth
    >>> data = load_fashion_mnist("train")
    >>> proxy = train_proxy(data.images[:2000], predicate_truth(data.labels[:2000], "is_footwear"))
    >>> scores = proxy.score(data.images)          # calibrated P(is_footwear), float64 (60000,)
"""

from abae.proxy.calibration import PlattCalibration
from abae.proxy.checkpoint import ProxyCheckpointError, load_proxy, save_proxy
from abae.proxy.image_files import read_image_file, read_image_files
from abae.proxy.image_spec import ImageInputError, ImageSpec
from abae.proxy.ranking_quality import roc_auc
from abae.proxy.scoring import ImageSource, score_batch, score_in_batches
from abae.proxy.trained_proxy import PROXY_TASKS, Proxy, ProxyTask, TargetScale
from abae.proxy.training import default_patch_size, train_proxy

__all__ = [
    "PROXY_TASKS",
    "ImageInputError",
    "ImageSource",
    "ImageSpec",
    "PlattCalibration",
    "Proxy",
    "ProxyCheckpointError",
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
    "train_proxy",
]
