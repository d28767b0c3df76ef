"""ABae: approximate aggregation queries with expensive predicates.

The sampling and estimation core lives in :mod:`abae.sampling`; its main
entry points are re-exported here.
"""

from abae.sampling import (
    Estimate,
    GroupEstimates,
    KnownLabels,
    Progress,
    ProxySelection,
    StratumTable,
    combine_and,
    combine_or,
    estimate,
    estimate_by_group,
    estimate_groups,
    estimate_uniform,
    oracle_allocation_constant,
    select_proxy,
)

__all__ = [
    "Estimate",
    "GroupEstimates",
    "KnownLabels",
    "Progress",
    "ProxySelection",
    "StratumTable",
    "combine_and",
    "combine_or",
    "estimate",
    "estimate_by_group",
    "estimate_groups",
    "estimate_uniform",
    "oracle_allocation_constant",
    "select_proxy",
]

from abae.oracles import oracle as oracle
