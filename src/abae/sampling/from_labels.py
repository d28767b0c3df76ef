"""Turning the labels of a stratified sample into an :class:`Estimate`."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import combine_strata
from abae.sampling.intervals import (
    Interval,
    LabelsByStratum,
    bootstrap_interval,
    normal_interval,
)
from abae.sampling.result import Estimate, StratumTable
from abae.sampling.stratified_sample import StratifiedSample


def estimate_from_labels(
    sample: StratifiedSample,
    *,
    aggregate: str,
    allocation: str,
    budget: int,
    oracle_calls: int,
    confidence: float,
    ci: str,
    rng: np.random.Generator,
    bootstrap_replicates: int = 1000,
    notes: list[str] | None = None,
) -> Estimate:
    """Estimate ``aggregate`` and its interval from a stratified sample.

    Every stratum must hold at least one label. Adds warnings for strata (and
    samples) without positives; ``notes`` are warnings gathered earlier.
    """
    k = sample.sizes.shape[0]
    labels = LabelsByStratum(sample.sizes, sample.stratum, sample.predicate, sample.statistic)
    stats = labels.stats()
    if (stats.labelled == 0).any():
        empty = np.flatnonzero(stats.labelled == 0).tolist()
        raise RuntimeError(f"internal error: strata {empty} have no label")
    point = float(combine_strata(aggregate, sample.sizes, stats.p, stats.mean_of_product))
    interval: Interval
    if ci == "normal":
        interval = normal_interval(aggregate, labels, confidence)
    else:
        interval = bootstrap_interval(
            aggregate, labels, confidence, rng, bootstrap_replicates, bca=ci == "bca"
        )
    warnings = list(notes or [])
    warnings += _positive_warnings(aggregate, stats.positives, stats.labelled, sample.sizes)
    warnings += interval.warnings
    stage1 = np.bincount(sample.stratum[sample.stage == 1], minlength=k).astype(np.int64)
    stage2 = np.bincount(sample.stratum[sample.stage == 2], minlength=k).astype(np.int64)
    table = StratumTable(
        size=sample.sizes.copy(),
        labelled=stats.labelled,
        stage1_labelled=stage1,
        stage2_allocation=stage2,
        positives=stats.positives,
        p=stats.p,
        mean=stats.mean,
        std=stats.std,
    )
    return Estimate(
        estimate=point,
        ci_low=interval.low,
        ci_high=interval.high,
        confidence=confidence,
        ci_method=ci,
        oracle_calls=oracle_calls,
        budget=budget,
        aggregate=aggregate,
        allocation=allocation,
        strata=table,
        warnings=warnings,
        labelled_indices=sample.indices,
        labelled_predicate=sample.predicate,
        labelled_statistic=sample.statistic,
        labelled_stratum=sample.stratum,
        labelled_stage=sample.stage,
    )


def _positive_warnings(
    aggregate: str,
    positives: npt.NDArray[np.int64],
    labelled: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
) -> list[str]:
    total = int(labelled.sum())
    if positives.sum() == 0:
        if aggregate == "avg":
            return [
                f"no positive record among the {total} labelled: the AVG is undefined (NaN); "
                "raise the budget or use a better proxy"
            ]
        exact = bool((labelled == sizes).all())
        if exact:
            return [f"no positive record among all {total} records: the {aggregate.upper()} is 0"]
        return [
            f"no positive record among the {total} labelled: the {aggregate.upper()} estimate "
            "is 0 with a zero-width interval, but unlabelled records may still be positive; "
            "raise the budget or use a better proxy"
        ]
    if positives.shape[0] == 1:
        return []
    return [
        f"stratum {k} has no positive among its {int(labelled[k])} labelled records "
        f"(of {int(sizes[k])}): its mean is undefined (NaN) and it adds 0 to the estimate"
        for k in np.flatnonzero(positives == 0).tolist()
    ]
