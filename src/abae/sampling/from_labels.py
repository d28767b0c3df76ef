"""Turning the labels of a stratified sample (and any known labels) into an :class:`Estimate`."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.bootstrap import bootstrap_interval
from abae.sampling.estimators import combine_strata
from abae.sampling.intervals import Interval, clip_to_known, normal_interval
from abae.sampling.known_labels import KnownLabels
from abae.sampling.result import Estimate, StratumTable
from abae.sampling.stratified_labels import LabelsByStratum, StratumRates, stratum_rates
from abae.sampling.stratified_sample import StratifiedSample
from abae.sampling.stratum_stats import StratumStats, stratum_stats
from abae.sampling.studentized import FEW_POSITIVES, sampled_positives, studentized_interval
from abae.sampling.validation import RandomState, check_rng


def labels_with_census(
    sample: StratifiedSample,
    known: KnownLabels | None,
    placement: npt.ArrayLike | None = None,
) -> LabelsByStratum:
    """The sample's labels by stratum, with the known labels as one more (census) stratum.

    The census stratum, if any, is the last one (index ``K``); its size is the
    number of known records, so it adds no sampling variance unless some of
    its labels are missing. With ``placement`` (the proxy stratum of each
    known label by its planning score) the known labels also describe the
    strata as ``planning`` statistics.
    """
    if known is None or len(known) == 0:
        return LabelsByStratum(
            sample.sizes, sample.stratum, sample.predicate, sample.statistic, sample.missing
        )
    k = sample.sizes.shape[0]
    planning = None
    where = np.asarray(placement if placement is not None else [], dtype=np.int64)
    if where.size == len(known):
        planning = stratum_stats(where, known.predicate, known.statistic, k + 1, known.missing_mask)
    return LabelsByStratum(
        planning=planning,
        sizes=np.append(sample.sizes, len(known)).astype(np.int64),
        stratum=np.concatenate([sample.stratum, np.full(len(known), k, np.int64)]),
        predicate=np.concatenate([sample.predicate, known.predicate]),
        statistic=np.concatenate([sample.statistic, known.statistic]),
        missing=np.concatenate([sample.missing_mask(), known.missing_mask]),
    )


def confidence_interval(
    ci: str,
    aggregate: str,
    labels: LabelsByStratum,
    confidence: float,
    rng: RandomState,
    bootstrap_replicates: int = 1000,
    unseen_rates: npt.NDArray[np.float64] | None = None,
) -> Interval:
    """The interval of method ``ci`` (see :func:`estimate_from_labels`), clipped to what is known.

    ``unseen_rates`` (studentized only): per sampled stratum, a cap on the rate
    assumed for a stratum without a positive (see
    :func:`~abae.sampling.studentized.studentized_parts`).
    """
    interval: Interval
    if ci == "studentized":
        interval = studentized_interval(aggregate, labels, confidence, unseen_rates=unseen_rates)
    elif ci == "normal":
        interval = normal_interval(aggregate, labels, confidence)
    else:
        interval = bootstrap_interval(
            aggregate, labels, confidence, rng, bootstrap_replicates, bca=ci == "bca"
        )
    return clip_to_known(aggregate, labels, interval)


def estimate_from_labels(
    sample: StratifiedSample,
    *,
    aggregate: str,
    allocation: str,
    budget: int,
    oracle_calls: int,
    confidence: float,
    ci: str,
    rng: RandomState,
    bootstrap_replicates: int = 1000,
    notes: list[str] | None = None,
    known: KnownLabels | None = None,
    known_placement: npt.ArrayLike | None = None,
    unseen_rates: npt.ArrayLike | None = None,
) -> Estimate:
    """Estimate ``aggregate`` and its interval from a stratified sample (and known labels).

    The estimate is ``Σ_k N_k t̂_k`` over the sample's strata plus the census
    stratum of ``known`` (SUM; COUNT with ``p̂_k``; AVG their ratio). Missing
    labels are missing at random within their stratum (see
    :class:`~abae.sampling.stratum_stats.StratumStats`).

    Args:
        sample: the fresh labels; ``sample.sizes`` are the sizes of the strata
            they were drawn from (known records excluded).
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        allocation: the allocation rule, reported as is.
        budget: the oracle budget, reported as is.
        oracle_calls: fresh labels paid for, reported as is.
        confidence: the interval's coverage probability.
        ci: ``"studentized"``, ``"bootstrap"``, ``"bca"`` or ``"normal"``.
        rng: randomness for the bootstrap (an int seed, a Generator or None).
        bootstrap_replicates: replicates for the bootstrap intervals.
        notes: warnings gathered earlier, put first.
        known: labels bought before sampling (the census stratum), or ``None``.
        known_placement: the stratum each known label falls in by its planning
            score, int ``(len(known),)``
            (:func:`~abae.sampling.known_planning.place_known`): for the stratum
            table, and to judge strata whose fresh labels saw no positive (never
            in the estimate).
        unseen_rates: the planned rate of positives in each of the sample's
            strata, float ``(K,)`` in [0, 1], or ``None``. The studentized
            interval gives a sampled stratum without a positive the variance
            of the smaller of this rate and its usual pseudo-count rate
            (COUNT and SUM). For a domain estimate (a group of an oracle
            output, absent from most cells) the usual rate is several times
            too wide; the group's calibrated proxy gives a rate that is not.
            Reported in the stratum table as ``planned_rate``.

    Returns:
        The :class:`Estimate`; warnings cover strata and samples without
        positives, missing labels, borrowed values and a conservative interval.
    """
    generator = check_rng(rng)
    k = sample.sizes.shape[0]
    placement = (
        np.zeros(0, np.int64)
        if known is None or known_placement is None
        else np.asarray(known_placement, dtype=np.int64)
    )
    floor = _check_unseen_rates(unseen_rates, k)
    labels = labels_with_census(sample, known, placement)
    stats = labels.stats()
    rates = stratum_rates(stats, labels.sizes)
    point = float(combine_strata(aggregate, labels.sizes, rates.p, rates.product))
    interval = confidence_interval(
        ci, aggregate, labels, confidence, generator, bootstrap_replicates, floor
    )
    warnings = list(notes or [])
    census_positives = int(stats.positives[k:].sum())
    warnings += _positive_warnings(
        aggregate, stats.positives[:k], stats.labelled[:k], sample.sizes, census_positives
    )
    warnings += _missing_warnings(labels, stats, rates, k)
    positives = sampled_positives(aggregate, labels)
    conservative = positives < FEW_POSITIVES and not _exact(labels, stats)
    if conservative:
        if ci != "studentized":
            fallback = confidence_interval(
                "studentized", aggregate, labels, confidence, generator, bootstrap_replicates, floor
            )
            interval = Interval(
                float(np.fmin(interval.low, fallback.low)),
                float(np.fmax(interval.high, fallback.high)),
                interval.warnings,
            )
        warnings.append(_few_positives_warning(aggregate, positives, ci))
    warnings += interval.warnings
    missing = sample.missing_mask()
    fresh_stats = StratumStats(
        labelled=stats.labelled[:k],
        positives=stats.positives[:k],
        sum_f=stats.sum_f[:k],
        sum_f2=stats.sum_f2[:k],
        measured=stats.measured_positives[:k],
    )
    stage1 = np.bincount(sample.stratum[sample.stage == 1], minlength=k).astype(np.int64)
    stage2 = np.bincount(sample.stratum[sample.stage == 2], minlength=k).astype(np.int64)
    table = StratumTable(
        size=sample.sizes.copy(),
        labelled=np.bincount(sample.stratum, minlength=k).astype(np.int64),
        stage1_labelled=stage1,
        stage2_allocation=stage2,
        positives=fresh_stats.positives,
        p=fresh_stats.p,
        mean=fresh_stats.mean,
        std=fresh_stats.std,
        known=np.bincount(placement, minlength=k).astype(np.int64)[:k],
        missing=np.bincount(sample.stratum[missing], minlength=k).astype(np.int64),
        missing_statistic=(fresh_stats.positives - fresh_stats.measured_positives),
        planned_rate=floor,
    )
    census = known is not None and len(known) > 0
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
        labelled_predicate=sample.predicate & ~missing,
        labelled_statistic=sample.statistic,
        labelled_stratum=sample.stratum,
        labelled_stage=sample.stage,
        known_labels=len(known) if census and known is not None else 0,
        known_positives=census_positives,
        missing_labels=int(np.count_nonzero(labels.missing)) if labels.missing is not None else 0,
        missing_statistics=int((stats.positives - stats.measured_positives).sum()),
        conservative=conservative,
        labelled_missing=missing,
    )


def _check_unseen_rates(rates: npt.ArrayLike | None, k: int) -> npt.NDArray[np.float64] | None:
    """``rates`` as float64 ``(K,)`` in [0, 1], or ``None``.

    Raises:
        ValueError: not one rate per stratum, or a rate outside [0, 1].
    """
    if rates is None:
        return None
    floor = np.asarray(rates, dtype=np.float64)
    if floor.shape != (k,):
        raise ValueError(
            f"unseen_rates must hold one rate per stratum, shape ({k},), got shape {floor.shape}"
        )
    if not ((floor >= 0.0) & (floor <= 1.0)).all():
        raise ValueError(f"unseen_rates must be rates in [0, 1], got {floor.tolist()}")
    return floor


def _few_positives_warning(aggregate: str, positives: int, ci: str) -> str:
    what = "positive(s)" if aggregate == "count" else "positive(s) with a known statistic"
    if aggregate == "avg":
        rule = (
            "Student t on the positives' degrees of freedom; unbounded with fewer than two "
            "positives"
        )
    else:
        rule = "the hull of the studentized interval and the Fay-Feuer gamma interval"
    widened = "" if ci == "studentized" else f", widened from the {ci!r} interval"
    return (
        f"only {positives} {what} in the sampled strata: too few for the usual interval, so "
        f"it is conservative ({rule}{widened}); raise the budget or use a better proxy for a "
        "tighter one"
    )


def _exact(labels: LabelsByStratum, stats: StratumStats) -> bool:
    """Whether every record is labelled and nothing is missing (the answer is exact)."""
    return bool(
        (stats.labelled == labels.sizes).all()
        and (stats.measured_positives == stats.positives).all()
    )


def _missing_warnings(
    labels: LabelsByStratum, stats: StratumStats, rates: StratumRates, k: int
) -> list[str]:
    warnings: list[str] = []
    lost = 0 if labels.missing is None else int(np.count_nonzero(labels.missing))
    unmeasured = int((stats.positives - stats.measured_positives).sum())
    if lost:
        warnings.append(
            f"{lost} label(s) came back without a predicate (failed or lost): paid for but "
            "left out, assuming they are missing at random within their stratum"
        )
    if unmeasured:
        warnings.append(
            f"{unmeasured} positive(s) have no statistic (failed or lost): counted as "
            "positives, their statistic assumed missing at random within their stratum "
            "(the stratum mean of the positives with a known statistic stands in)"
        )
    for j in np.flatnonzero(rates.unlabelled).tolist():
        name = "the known labels have" if j == k else f"stratum {j} has"
        warnings.append(
            f"{name} no usable label (all missing): the positive rate and mean are "
            "borrowed from the other strata, which may bias the estimate"
        )
    for j in np.flatnonzero(rates.imputed).tolist():
        name = "the known labels have" if j == k else f"stratum {j} has"
        warnings.append(
            f"{name} positives but none with a known statistic: their mean is borrowed "
            "from the other strata, which may bias the estimate"
        )
    return warnings


def _positive_warnings(
    aggregate: str,
    positives: npt.NDArray[np.int64],
    labelled: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    census_positives: int,
) -> list[str]:
    total = int(labelled.sum())
    if positives.sum() == 0:
        if census_positives:
            return [
                f"no positive record among the {total} fresh labels: the estimate rests on the "
                f"{census_positives} known positive(s); unlabelled records may hold more"
            ]
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
            "is 0, but unlabelled records may still be positive (the interval reaches up to "
            "what the sample cannot rule out); raise the budget or use a better proxy"
        ]
    if positives.shape[0] == 1:
        return []
    return [
        f"stratum {k} has no positive among its {int(labelled[k])} labelled records "
        f"(of {int(sizes[k])}): its mean is undefined (NaN) and it adds 0 to the estimate"
        for k in np.flatnonzero(positives == 0).tolist()
    ]
