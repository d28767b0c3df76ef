"""The sampling and estimation core of ABae: pure NumPy, arrays in, numbers out.

Entry points: :func:`estimate` (stratified two-stage sampling by proxy score),
:func:`estimate_uniform` (the uniform-sampling baseline),
:func:`estimate_by_group` (GROUP BY a cheap column) and :func:`estimate_groups`
(GROUP BY an oracle output); labels bought before sampling (a proxy's pilot)
enter :func:`estimate` and :func:`estimate_uniform` as :class:`KnownLabels`.
The building blocks are public too, for callers that drive sampling
themselves (e.g. a query engine with a label ledger): :func:`make_strata`,
:func:`plan_known`, :func:`stage1_sizes`, :func:`stage2_weights`,
:func:`top_up_weights`, :func:`allocate_stage2`, :func:`stage2_draws`,
:func:`stratum_stats`, :func:`estimate_from_labels`, the intervals and
:func:`oracle_allocation_constant`.
The formulas are in ``docs/statistics.md``.
"""

from abae.sampling.allocation import (
    allocate_stage2,
    capped_water_fill,
    shrunk_variances,
    stage1_sizes,
    stage2_draws,
    stage2_weights,
    top_up_weights,
)
from abae.sampling.bootstrap import bootstrap_interval
from abae.sampling.estimators import combine_strata
from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.from_labels import confidence_interval, estimate_from_labels, labels_with_census
from abae.sampling.group_allocation import (
    group_cost,
    minimax_cell_allocation,
    minimax_shares,
)
from abae.sampling.group_by_column import estimate_by_group
from abae.sampling.group_cells import GroupCells, make_group_cells
from abae.sampling.group_estimates import GroupEstimates
from abae.sampling.groups import estimate_groups
from abae.sampling.intervals import Interval, known_bounds, normal_interval
from abae.sampling.known_labels import KnownLabels
from abae.sampling.known_planning import KnownPlan, place_known, plan_known
from abae.sampling.labelling import (
    LabelRecorder,
    Oracle,
    OracleLabels,
    check_oracle_answer,
    read_oracle_answer,
)
from abae.sampling.predicates import combine_and, combine_or
from abae.sampling.progress import Progress, ProgressCallback
from abae.sampling.proxy_selection import (
    ProxySelection,
    oracle_allocation_constant,
    proxy_constants_from_labels,
    select_proxy,
)
from abae.sampling.result import Estimate, StratumTable
from abae.sampling.strata import Strata, equal_stratum_sizes, make_strata
from abae.sampling.stratified_labels import LabelsByStratum, point_estimate
from abae.sampling.stratified_sample import SampleBuilder, StratifiedSample
from abae.sampling.stratum_stats import StratumStats, stratum_stats
from abae.sampling.studentized import studentized_interval
from abae.sampling.two_stage import estimate
from abae.sampling.uniform import estimate_uniform
from abae.sampling.validation import RandomState, check_rng

__all__ = [
    "Estimate",
    "GroupCells",
    "GroupEstimates",
    "Interval",
    "KnownLabels",
    "KnownPlan",
    "LabelRecorder",
    "LabelsByStratum",
    "Oracle",
    "OracleLabels",
    "Progress",
    "ProgressCallback",
    "ProxySelection",
    "RandomState",
    "SampleBuilder",
    "Strata",
    "StratifiedSample",
    "StratumStats",
    "StratumTable",
    "allocate_stage2",
    "bootstrap_interval",
    "capped_water_fill",
    "check_oracle_answer",
    "check_rng",
    "combine_and",
    "combine_or",
    "combine_strata",
    "confidence_interval",
    "draw_fresh",
    "equal_stratum_sizes",
    "estimate",
    "estimate_by_group",
    "estimate_from_labels",
    "estimate_groups",
    "estimate_uniform",
    "group_cost",
    "known_bounds",
    "labels_with_census",
    "make_group_cells",
    "make_strata",
    "minimax_cell_allocation",
    "minimax_shares",
    "normal_interval",
    "oracle_allocation_constant",
    "place_known",
    "plan_known",
    "point_estimate",
    "proxy_constants_from_labels",
    "read_oracle_answer",
    "select_proxy",
    "shrunk_variances",
    "stage1_sizes",
    "stage2_draws",
    "stage2_weights",
    "stratum_stats",
    "studentized_interval",
    "top_up_weights",
]
