"""What the demo offers (datasets, predicates, defaults): light constants for the CLI."""

from __future__ import annotations

from abae.datasets.fashion_mnist import PREDICATE_CLASSES
from abae.datasets.street_scenes import LIGHT_STATES

DATASET_NAMES = ("fashion", "scenes")
PREDICATES = {
    "fashion": tuple(sorted(PREDICATE_CLASSES)),
    "scenes": tuple(f"has_{state}_light" for state in LIGHT_STATES),
}
"""The predicates (oracle names) each dataset offers."""
DEFAULT_PREDICATES = {"fashion": "is_trouser", "scenes": "has_red_light"}
"""The demo's predicates. ABae's gain over uniform sampling grows as the
predicate gets rarer and the proxy better: with the paper's defaults (5 strata,
half the budget in stage 1), a predicate true for 30 % of records
(``is_footwear``, ``has_red_light``) leaves at most about 1.4× lower RMSE even
with a perfect proxy (measured over 60+ seeds). Fashion therefore asks about
trousers (10 % of records, proxy AUC about 0.98); street scenes keep the red
light (32 %), whose proxy reaches AUC 0.99 with a 1000-frame pilot and 12
epochs. Rarer states (``has_yellow_light``, 7 %) and ``is_bag`` are offered, but
a pilot of this size holds too few positives for the proxy to learn them well
(AUC about 0.65–0.7)."""
DEFAULT_RECORDS = {"fashion": 20_000, "scenes": 3_000}
"""Records imported by default (``--limit`` changes it)."""
DEFAULT_SAMPLING = {"fashion": (8, 0.5), "scenes": (10, 0.5)}
"""(strata, stage-1 share) the demo's queries run with. The pilot is a census
stratum whose cross-fitted scores already tell each stratum's rate, so stage 1
draws fewer fresh labels where the pilot has some, and a larger stage-1 share
plans stage 2 better. Fashion ``is_trouser`` with its auto-pilot proxy
(logistic regression on pixels, 200 labels), 1,000 query labels, uniform given
the whole spend (1,200), 100 to 500 sampling seeds on pilot seed 0: uniform / ABae RMSE
1.22× with (10, 0.3), 1.45× with (10, 0.4), 1.81× with (10, 0.5), 1.92× with
(8, 0.5), 1.83× with (8, 0.6), 1.67× with (4, 0.4). Street scenes
``has_red_light`` (32 % of frames, a 400-label pilot, 300 seeds): 0.86× with
(10, 0.3) and ``ORACLE LIMIT 400``, 1.23× with (8, 0.5) and 1.36× with (10, 0.5)
at 800. ``benchmarks/bench_demo.py`` measures the chosen settings over other
pilot and sampling seeds."""
DEFAULT_BUDGETS = {"fashion": 1000, "scenes": 800}
"""The query's ``ORACLE LIMIT`` by default (``--budget`` changes it). It includes the
statistic labels of the pilot's positives (the census stratum's), so street scenes,
whose pilot of 400 frames holds about 130 red lights, query with 800."""
