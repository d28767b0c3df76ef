"""The baseline: uniform sampling without replacement, no proxy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.from_labels import estimate_from_labels
from abae.sampling.known_labels import KnownLabels
from abae.sampling.known_planning import check_known
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.progress import ProgressCallback
from abae.sampling.result import Estimate
from abae.sampling.stratified_sample import SampleBuilder
from abae.sampling.stratum_stats import stratum_stats
from abae.sampling.validation import (
    AGGREGATES,
    INTERVALS,
    RandomState,
    check_budget,
    check_choice,
    check_confidence,
    check_positive_int,
    check_rng,
    check_scores,
)


def estimate_uniform(
    records: int | npt.ArrayLike,
    oracle: Oracle,
    budget: int,
    *,
    aggregate: str = "avg",
    confidence: float = 0.95,
    ci: str = "studentized",
    rng: RandomState = None,
    bootstrap_replicates: int = 1000,
    on_progress: ProgressCallback | None = None,
    known: KnownLabels | None = None,
) -> Estimate:
    """Estimate an aggregate from a uniform random sample of ``budget`` records.

    The baseline ABae is measured against: one stratum holding every record,
    one oracle call with ``min(budget, N)`` distinct indices. The result has
    the same type as :func:`abae.estimate` (a one-row stratum table,
    ``allocation="uniform"``).

    With ``known`` labels (a uniform random sample labelled before, e.g. a
    proxy's pilot) this is the honest baseline at the same total spend: the
    known records are a census stratum and ``budget`` more records are drawn
    uniformly from the others. Since both parts are uniform, this equals a
    uniform sample of ``len(known) + budget`` records.

    Args:
        records: the number of records ``N``, or any 1-D array with one entry
            per record (e.g. the proxy scores, which are otherwise ignored).
        oracle, budget, aggregate, confidence, ci, rng, bootstrap_replicates,
        on_progress, known: as for :func:`abae.estimate`.

    Returns:
        The :class:`~abae.sampling.result.Estimate`.

    Raises:
        ValueError: a bad argument or a malformed oracle answer.

    Example:
        >>> truth = np.arange(1000) % 4 == 0
        >>> result = estimate_uniform(1000, lambda i: (truth[i], np.ones(i.size)), 200,
        ...                           aggregate="count", rng=0)
        >>> result.oracle_calls, bool(result.ci_low <= 250 <= result.ci_high)
        (200, True)
    """
    if isinstance(records, int | np.integer) and not isinstance(records, bool):
        n_records = check_positive_int(records, "records")
    else:
        n_records = check_scores(records, "records").shape[0]
    budget = check_budget(budget, 1, "at least one label")
    aggregate = check_choice(aggregate, "aggregate", AGGREGATES)
    ci = check_choice(ci, "ci", INTERVALS)
    confidence = check_confidence(confidence)
    replicates = check_positive_int(bootstrap_replicates, "bootstrap_replicates")
    generator = check_rng(rng)
    checked = check_known(known, n_records)

    notes: list[str] = []
    if checked is None:
        rest = None
        free = n_records
    else:
        keep = np.ones(n_records, np.bool_)
        keep[checked.indices] = False
        rest = np.flatnonzero(keep).astype(np.int64)
        free = int(rest.size)
    if budget > free:
        notes.append(
            f"budget {budget} exceeds the {free} records left to label: every one was labelled once"
        )
    sizes = np.array([free], dtype=np.int64) if free else np.zeros(0, np.int64)
    recorder = LabelRecorder(oracle, n_records, budget)
    census = None
    if checked is not None:
        whole = np.zeros(len(checked), np.int64)
        census_stats = stratum_stats(
            whole, checked.predicate, checked.statistic, 1, checked.missing_mask
        )
        census = (census_stats, len(checked))
    builder = SampleBuilder(sizes, aggregate, census)
    if free:
        positions = draw_fresh(free, np.empty(0, np.int64), min(budget, free), generator)
        indices = positions if rest is None else rest[positions]
        labels = recorder.label_records(indices)
        builder.add(indices, labels.predicate, labels.statistic, 0, 1, labels.missing)
        if on_progress is not None:
            recorder.report(1, builder.running_estimate(), on_progress)
    return estimate_from_labels(
        builder.sample(),
        aggregate=aggregate,
        allocation="uniform",
        budget=budget,
        oracle_calls=recorder.calls,
        confidence=confidence,
        ci=ci,
        rng=generator,
        bootstrap_replicates=replicates,
        notes=notes,
        known=checked,
    )
