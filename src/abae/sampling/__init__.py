"""The sampling and estimation core of ABae: pure NumPy, arrays in, numbers out.

Entry points: :func:`estimate` (stratified two-stage sampling by proxy score),
:func:`estimate_uniform` (the uniform-sampling baseline) and
:func:`estimate_groups` (GROUP BY). The building blocks are public too, for
callers that drive sampling themselves (e.g. a query engine with a label
ledger): :func:`make_strata`, :func:`stage1_sizes`, :func:`stage2_weights`,
:func:`top_up_weights`, :func:`allocate_stage2`, :func:`stratum_stats`, :func:`estimate_from_labels`
and :func:`oracle_allocation_constant`.
"""

from abae.sampling.allocation import (
    allocate_stage2,
    stage1_sizes,
    stage2_weights,
    top_up_weights,
)
from abae.sampling.estimators import combine_strata
from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.from_labels import estimate_from_labels
from abae.sampling.groups import GroupEstimates, estimate_groups, group_cost, minimax_shares
from abae.sampling.intervals import (
    Interval,
    LabelsByStratum,
    bootstrap_interval,
    normal_interval,
)
from abae.sampling.labelling import LabelRecorder, Oracle, check_oracle_answer
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
from abae.sampling.stratified_sample import SampleBuilder, StratifiedSample
from abae.sampling.stratum_stats import StratumStats, stratum_stats
from abae.sampling.two_stage import estimate
from abae.sampling.uniform import estimate_uniform

__all__ = [
    "Estimate",
    "GroupEstimates",
    "Interval",
    "LabelRecorder",
    "LabelsByStratum",
    "Oracle",
    "Progress",
    "ProgressCallback",
    "ProxySelection",
    "SampleBuilder",
    "Strata",
    "StratifiedSample",
    "StratumStats",
    "StratumTable",
    "allocate_stage2",
    "bootstrap_interval",
    "check_oracle_answer",
    "combine_and",
    "combine_or",
    "combine_strata",
    "draw_fresh",
    "equal_stratum_sizes",
    "estimate",
    "estimate_from_labels",
    "estimate_groups",
    "estimate_uniform",
    "group_cost",
    "make_strata",
    "minimax_shares",
    "normal_interval",
    "oracle_allocation_constant",
    "proxy_constants_from_labels",
    "select_proxy",
    "stage1_sizes",
    "stage2_weights",
    "stratum_stats",
    "top_up_weights",
]
