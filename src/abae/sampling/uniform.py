"""The baseline: uniform sampling without replacement, no proxy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.from_labels import estimate_from_labels
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.progress import ProgressCallback
from abae.sampling.result import Estimate
from abae.sampling.stratified_sample import SampleBuilder
from abae.sampling.validation import (
    AGGREGATES,
    INTERVALS,
    check_budget,
    check_choice,
    check_confidence,
    check_positive_int,
    check_scores,
)


def estimate_uniform(
    records: int | npt.ArrayLike,
    oracle: Oracle,
    budget: int,
    *,
    aggregate: str = "avg",
    confidence: float = 0.95,
    ci: str = "bootstrap",
    rng: np.random.Generator | None = None,
    bootstrap_replicates: int = 1000,
    on_progress: ProgressCallback | None = None,
) -> Estimate:
    """Estimate an aggregate from a uniform random sample of ``budget`` records.

    The baseline ABae is measured against: one stratum holding every record,
    one oracle call with ``min(budget, N)`` distinct indices. The result has
    the same type as :func:`abae.estimate` (a one-row stratum table,
    ``allocation="uniform"``).

    Args:
        records: the number of records ``N``, or any 1-D array with one entry
            per record (e.g. the proxy scores, which are otherwise ignored).
        oracle, budget, aggregate, confidence, ci, rng, bootstrap_replicates,
        on_progress: as for :func:`abae.estimate`.

    Returns:
        The :class:`~abae.sampling.result.Estimate`.

    Raises:
        ValueError: a bad argument or a malformed oracle answer.
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
    rng = np.random.default_rng() if rng is None else rng

    notes: list[str] = []
    if budget > n_records:
        notes.append(
            f"budget {budget} exceeds the {n_records} records: every record was labelled once"
        )
    sizes = np.array([n_records], dtype=np.int64)
    recorder = LabelRecorder(oracle, n_records, budget)
    builder = SampleBuilder(sizes, aggregate)
    indices = draw_fresh(n_records, np.empty(0, np.int64), min(budget, n_records), rng)
    predicate, statistic, _ = recorder.label(indices)
    builder.add(indices, predicate, statistic, 0, 1)
    recorder.report(1, builder.running_estimate(), on_progress)
    return estimate_from_labels(
        builder.sample(),
        aggregate=aggregate,
        allocation="uniform",
        budget=budget,
        oracle_calls=recorder.calls,
        confidence=confidence,
        ci=ci,
        rng=rng,
        bootstrap_replicates=replicates,
        notes=notes,
    )
