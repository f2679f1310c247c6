"""Small statistics for reports: mean, sample standard deviation and Student-t 95 % confidence
intervals of paired differences (few seeds: the t quantile matters)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Two-sided 95 % quantiles t_{0.975, df} (df = 1..30); beyond, the normal quantile is within 2 %.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        return math.inf
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, lower, upper) of a 95 % t confidence interval of the mean; one value: (v, -inf, inf)."""
    n = len(values)
    if n == 0 or any(math.isnan(v) for v in values):
        return math.nan, math.nan, math.nan
    m = statistics.fmean(values)
    if n == 1:
        return m, -math.inf, math.inf
    half = t975(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return m, m - half, m + half


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value; NaN when a value is NaN, e.g. a
    ticket that finished no episode)."""
    if not values or any(math.isnan(v) for v in values):
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
