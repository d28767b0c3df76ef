"""The demo's built-in datasets, each with its ground truth, oracles, query and proxy settings.

- ``fashion``: Fashion-MNIST training images (28×28 grey, from the Debian
  package); predicate ``is_trouser`` (or ``is_footwear``, ...), statistic ``ink``
  (share of pixels brighter than 128).
- ``scenes``: procedural street scenes (256×256 RGB); predicate
  ``has_red_light`` (or ``has_yellow_light``, ``has_green_light``), statistic
  ``count_cars``. The light is 15 px high, so the proxy reads the frame at full
  resolution.

Both train their proxy with ``pilot_size="auto"`` (rounds of 100, 200, 400, ...
labels until the best cross-validated AUC gains less than 0.005). Fashion caps
the pilot at 1,000 labels and pretrains on 10,000 images, so that its first run,
pretraining included, takes about a minute and a half on 2 CPU cores (Fashion's
auto pilot stops at 200 labels: logistic regression on pixels reaches a
cross-validated AUC of about 1.0). Street scenes need the fine-tuned AFNO network,
whose cross-validation on 256×256 frames is slow: the pilot is capped at 400
labels (cross-validated AUC about 0.98), with 3 folds and at most 10 epochs, and
the first run takes about 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from abae.datasets.fashion_mnist import (
    DEFAULT_DIR,
    ink_coverage,
    load_fashion_mnist,
    predicate_truth,
)
from abae.datasets.street_scenes import LIGHT_STATES, generate_street_scenes
from abae.demo.choices import (
    DATASET_NAMES,
    DEFAULT_BUDGETS,
    DEFAULT_PREDICATES,
    DEFAULT_RECORDS,
    DEFAULT_SAMPLING,
    PREDICATES,
)
from abae.demo.truth_oracles import image_reference, truth_registry
from abae.oracles.registry import OracleRegistry
from abae.proxy.backbone import Pretraining
from abae.proxy.store_pipeline import AUTO, ProxyTrainingSettings

PROXY_NAME = "afno_proxy"
FASHION_PRETRAINING = Pretraining(epochs=2, max_images=10_000)
"""The Fashion demo pretrains its backbone on 10,000 of its 20,000 images (2 epochs,
about 25 s on 2 cores) so that the first run, pretraining included, stays within
90 s; the proxy chosen on this collection is logistic regression on pixels anyway
(cross-validated AUC about 1.0), see ``benchmarks/results/demo.json``."""


@dataclass(frozen=True)
class DemoDataset:
    """One built-in dataset, ready to import and query.

    Attributes:
        name: ``"fashion"`` or ``"scenes"`` (also the collection name).
        description: one line for the printout.
        prefix: image references are ``<prefix>/<row>``.
        images: uint8 ``(N, H, W)`` or ``(N, H, W, 3)``.
        predicate: bool (N,), the true predicate per record.
        statistic: float64 (N,), the true statistic per record.
        predicate_oracle, statistic_oracle: the oracle names queries use.
        settings: how the demo trains its proxy.
        budget: the query's default ``ORACLE LIMIT``.
        strata, stage1_share: the ABae sampling settings of the query.
    """

    name: str
    description: str
    prefix: str
    images: NDArray[np.uint8]
    predicate: NDArray[np.bool_]
    statistic: NDArray[np.float64]
    predicate_oracle: str
    statistic_oracle: str
    settings: ProxyTrainingSettings
    budget: int
    strata: int = 5
    stage1_share: float = 0.5

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def references(self) -> list[str]:
        """The ``image`` column: one reference per record."""
        return [image_reference(self.prefix, i) for i in range(len(self))]

    def query(self, budget: int | None = None, proxy: str = PROXY_NAME) -> str:
        """``SELECT AVG(statistic(image)) ... WHERE predicate(image) ORACLE LIMIT ... USING ...``."""
        return (
            f"SELECT AVG({self.statistic_oracle}(image)) FROM {self.name} "
            f"WHERE {self.predicate_oracle}(image) ORACLE LIMIT {budget or self.budget} "
            f"USING {proxy} WITH PROBABILITY 0.95"
        )

    def exact_answer(self) -> float:
        """The true AVG of the statistic over records where the predicate holds."""
        return float(self.statistic[self.predicate].mean())

    def oracles(self, latency_s: float = 0.0) -> OracleRegistry:
        """The exact oracles (look up the truth; ``latency_s`` per call)."""
        return truth_registry(
            self.prefix,
            self.predicate_oracle,
            self.predicate,
            self.statistic_oracle,
            self.statistic,
            latency_s=latency_s,
        )


def fashion_dataset(
    records: int | None = None,
    *,
    seed: int = 0,
    predicate: str | None = None,
    data_dir: str | Path = DEFAULT_DIR,
) -> DemoDataset:
    """``records`` Fashion-MNIST training images drawn at random with ``seed`` (default 20,000).

    ``predicate``: a name in :data:`PREDICATES` ``["fashion"]`` (default ``is_trouser``).
    """
    chosen = _predicate("fashion", predicate)
    data = load_fashion_mnist("train", data_dir)
    count = _count(records, "fashion", len(data.labels))
    rows = np.sort(np.random.default_rng(seed).choice(len(data.labels), count, replace=False))
    images = np.ascontiguousarray(data.images[rows])
    return DemoDataset(
        name="fashion",
        description=f"Fashion-MNIST: {count:,} training images (28×28 grey)",
        prefix="fashion-mnist/train",
        images=images,
        predicate=predicate_truth(data.labels[rows], chosen),
        statistic=ink_coverage(images),
        predicate_oracle=chosen,
        statistic_oracle="ink",
        settings=ProxyTrainingSettings(
            pilot_size=AUTO, max_pilot=1000, seed=seed, pretraining=FASHION_PRETRAINING
        ),
        budget=DEFAULT_BUDGETS["fashion"],
        strata=DEFAULT_SAMPLING["fashion"][0],
        stage1_share=DEFAULT_SAMPLING["fashion"][1],
    )


def scenes_dataset(
    records: int | None = None, *, seed: int = 0, predicate: str | None = None
) -> DemoDataset:
    """``records`` street-scene frames (256×256 RGB, default 3,000) generated with ``seed``.

    ``predicate``: ``has_<state>_light`` for a light state (default ``has_red_light``).
    """
    chosen = _predicate("scenes", predicate)
    count = _count(records, "scenes", None)
    scenes = generate_street_scenes(count, rng=seed)
    return DemoDataset(
        name="scenes",
        description=f"street scenes: {count:,} frames (256×256 RGB, 15-pixel traffic light)",
        prefix=f"street-scenes/seed{seed}",
        images=scenes.render(np.arange(count)).images,
        predicate=scenes.light_states == LIGHT_STATES.index(chosen.split("_")[1]),
        statistic=scenes.car_counts.astype(np.float64),
        predicate_oracle=chosen,
        statistic_oracle="count_cars",
        settings=ProxyTrainingSettings(
            pilot_size=AUTO, max_pilot=400, folds=3, epochs=10, seed=seed
        ),
        budget=DEFAULT_BUDGETS["scenes"],
        strata=DEFAULT_SAMPLING["scenes"][0],
        stage1_share=DEFAULT_SAMPLING["scenes"][1],
    )


def _predicate(dataset: str, predicate: str | None) -> str:
    chosen = predicate or DEFAULT_PREDICATES[dataset]
    if chosen not in PREDICATES[dataset]:
        raise ValueError(
            f"the {dataset} demo has no predicate {chosen!r}; choose one of {PREDICATES[dataset]}"
        )
    return chosen


def _count(records: int | None, name: str, available: int | None) -> int:
    count = DEFAULT_RECORDS[name] if records is None else int(records)
    if count < 20:
        raise ValueError(f"the {name} demo needs at least 20 records, got --limit {count}")
    if available is not None and count > available:
        raise ValueError(f"the {name} demo has {available} records, got --limit {count}")
    return count


def load_dataset(
    name: str, records: int | None = None, *, seed: int = 0, predicate: str | None = None
) -> DemoDataset:
    """The built-in dataset ``name`` (one of :data:`DATASET_NAMES`) with a predicate of
    :data:`PREDICATES` (default :data:`DEFAULT_PREDICATES`)."""
    if name == "fashion":
        return fashion_dataset(records, seed=seed, predicate=predicate)
    if name == "scenes":
        return scenes_dataset(records, seed=seed, predicate=predicate)
    raise ValueError(f"unknown demo dataset {name!r}; choose one of {DATASET_NAMES}")
