"""The cost model: usage counts x a dated price table, per job and per month, and where designs cross.

Everything here is pure arithmetic over the counts passed in and the price table; no figure is built in.

Terms:
- *cost per job*: the counts of one job times the unit prices, no free tier (the marginal cost of a job).
- *monthly bill*: the counts of ``N`` jobs, minus each meter's monthly free allowance (never below zero),
  times the unit prices. Free tiers are account-wide, so this assumes the workload is alone in the account.
- *reduction*: ``(baseline - design) / baseline`` in percent, on cost per job.
- *affine fit*: each count of a design, measured at several polls-per-job values, is affine in the number
  of polls (``fixed + per_poll x polls``: every poll repeats the same calls). The fit is least squares,
  so it is exact on exactly affine data and averages out noise otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sfn_callback.cost.pricing import LambdaBilling, PriceTable
from sfn_callback.cost.usage import METERS, UsageCounts

# Relative tolerance when deciding the sign of a cost difference computed in floating point.
_REL_TOL = 1e-12


def billed_gb_seconds(durations_ms: Iterable[float], memory_mb: float, billing: LambdaBilling) -> float:
    """Billed GB-seconds of invocations of one function, each rounded as Lambda bills it.

    Each duration is rounded up to ``billing.granularity_ms`` and raised to ``billing.minimum_billed_ms``,
    then multiplied by the configured memory in GB (``memory_mb / billing.mb_per_gb``).
    Call it once per function (memory is per function) and add the results.
    """
    if isinstance(memory_mb, bool) or not math.isfinite(memory_mb) or memory_mb <= 0:
        raise ValueError(f"Lambda memory must be a finite number of MB > 0, got {memory_mb!r}")
    gb = memory_mb / billing.mb_per_gb
    total_ms = 0.0
    for duration in durations_ms:
        if isinstance(duration, bool) or not math.isfinite(duration) or duration < 0:
            raise ValueError(f"Lambda duration must be a finite number of ms >= 0, got {duration!r}")
        rounded = math.ceil(duration / billing.granularity_ms) * billing.granularity_ms
        total_ms += max(rounded, billing.minimum_billed_ms)
    return total_ms / 1000.0 * gb


@dataclass(frozen=True)
class CostBreakdown:
    """A cost split by meter, in the price table's currency."""

    by_meter: Mapping[str, float]
    currency: str

    @property
    def total(self) -> float:
        """Sum over meters."""
        return math.fsum(self.by_meter.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"total": self.total, "currency": self.currency, "by_meter": dict(self.by_meter)}


def _price(counts: UsageCounts, prices: PriceTable) -> CostBreakdown:
    return CostBreakdown(
        by_meter={m: getattr(counts, m) * prices.meters[m].unit_price for m in METERS},
        currency=prices.currency,
    )


def cost_per_job(counts: UsageCounts, prices: PriceTable) -> CostBreakdown:
    """Cost of one job with the given counts, without free tiers."""
    return _price(counts, prices)


def monthly_bill(
    counts_per_job: UsageCounts, jobs_per_month: float, prices: PriceTable, *, free_tier: bool
) -> CostBreakdown:
    """Monthly bill of ``jobs_per_month`` jobs, with or without the monthly free allowances.

    The free allowance of each meter is subtracted from the month's total of that meter, never below zero.
    """
    if isinstance(jobs_per_month, bool) or not math.isfinite(jobs_per_month) or jobs_per_month < 0:
        raise ValueError(f"jobs per month must be a finite number >= 0, got {jobs_per_month!r}")
    month = counts_per_job.scaled(jobs_per_month)
    if free_tier:
        month = UsageCounts(
            **{m: max(0.0, getattr(month, m) - prices.meters[m].free_per_month) for m in METERS}
        )
    return _price(month, prices)


def reduction_percent(design_cost: float, baseline_cost: float) -> float:
    """How much cheaper ``design_cost`` is than ``baseline_cost``, in percent (negative if dearer)."""
    if not math.isfinite(baseline_cost) or baseline_cost <= 0:
        raise ValueError(f"baseline cost must be > 0 to compute a reduction, got {baseline_cost!r}")
    if not math.isfinite(design_cost) or design_cost < 0:
        raise ValueError(f"design cost must be a finite number >= 0, got {design_cost!r}")
    return (baseline_cost - design_cost) / baseline_cost * 100.0


@dataclass(frozen=True)
class AffineCounts:
    """Counts of one design as a function of polls per job: ``fixed[m] + per_poll[m] x polls``.

    ``measured_polls`` are the polls-per-job values the fit came from; ``max_abs_residual`` says, per
    meter, how far the worst measured point lies from the line (0 when the data are exactly affine).
    """

    fixed: Mapping[str, float]
    per_poll: Mapping[str, float]
    measured_polls: tuple[float, ...]
    max_abs_residual: Mapping[str, float]

    def at(self, polls: float) -> UsageCounts:
        """Counts of a job polled ``polls`` times.

        A count cannot be negative; a fitted line that dips below zero (only noisy data can make it)
        is read as zero there.
        """
        _check_polls(polls)
        return UsageCounts(**{m: max(0.0, self.fixed[m] + self.per_poll[m] * polls) for m in METERS})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the inverse of :meth:`from_dict`)."""
        return {
            "fixed": dict(self.fixed),
            "per_poll": dict(self.per_poll),
            "measured_polls": list(self.measured_polls),
            "max_abs_residual": dict(self.max_abs_residual),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AffineCounts:
        """Rebuild a fit saved with :meth:`to_dict`."""
        try:
            fit = cls(
                fixed={m: float(data["fixed"][m]) for m in METERS},
                per_poll={m: float(data["per_poll"][m]) for m in METERS},
                measured_polls=tuple(float(p) for p in data["measured_polls"]),
                max_abs_residual={m: float(data["max_abs_residual"][m]) for m in METERS},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed affine fit: {exc!r}") from None
        return fit


def _check_polls(polls: float) -> None:
    if isinstance(polls, bool) or not isinstance(polls, (int, float)) or not math.isfinite(polls) or polls < 0:
        raise ValueError(f"polls per job must be a finite number >= 0, got {polls!r}")


def fit_affine(measurements: Mapping[float, UsageCounts]) -> AffineCounts:
    """Least-squares fit of every count against polls per job.

    ``measurements`` maps a polls-per-job value to the per-job counts measured there (an average over
    jobs: see :meth:`UsageCounts.mean`). At least two distinct polls values are needed for a slope.
    """
    xs = [float(p) for p in measurements]
    for p in xs:
        _check_polls(p)
    if len(set(xs)) < 2:
        raise ValueError(f"an affine fit needs measurements at two or more polls values, got {sorted(xs)}")
    rows = list(measurements.values())
    for counts in rows:
        if not isinstance(counts, UsageCounts):
            raise ValueError(f"measurements must map polls to UsageCounts, got {type(counts).__name__}")
    x_mean = math.fsum(xs) / len(xs)
    sxx = math.fsum((x - x_mean) ** 2 for x in xs)
    fixed: dict[str, float] = {}
    per_poll: dict[str, float] = {}
    residual: dict[str, float] = {}
    for m in METERS:
        ys = [getattr(c, m) for c in rows]
        y_mean = math.fsum(ys) / len(ys)
        slope = math.fsum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys)) / sxx
        intercept = y_mean - slope * x_mean
        fixed[m], per_poll[m] = intercept, slope
        residual[m] = max(abs(y - (intercept + slope * x)) for x, y in zip(xs, ys))
    return AffineCounts(fixed, per_poll, tuple(sorted(xs)), residual)


def cost_at(fit: AffineCounts, prices: PriceTable, polls: float) -> CostBreakdown:
    """Cost per job (no free tier) of a fitted design at ``polls`` polls per job."""
    return cost_per_job(fit.at(polls), prices)


@dataclass(frozen=True)
class Threshold:
    """A polls-per-job value from which a condition holds for every larger value.

    ``extrapolated`` is true when it lies outside the polls range measured for either design, so the
    value rests on the affine fit beyond the data.
    """

    polls: float
    extrapolated: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"polls": self.polls, "extrapolated": self.extrapolated}


def _breakpoints(fit: AffineCounts, above: float) -> set[float]:
    """Polls values above ``above`` where a fitted count crosses zero (the cost line bends there)."""
    points = set()
    for m in METERS:
        if fit.per_poll[m] != 0:
            root = -fit.fixed[m] / fit.per_poll[m]
            if root > above:
                points.add(root)
    return points


def _final_slope(fit: AffineCounts, prices: PriceTable) -> float:
    """Cost per extra poll once every count with a falling line has reached zero (large polls)."""
    return math.fsum(
        prices.meters[m].unit_price * fit.per_poll[m] for m in METERS if fit.per_poll[m] > 0
    )


def polls_for_reduction(
    design: AffineCounts,
    baseline: AffineCounts,
    prices: PriceTable,
    target_percent: float,
    *,
    min_polls: float = 1.0,
) -> Threshold | None:
    """Smallest polls per job (>= ``min_polls``) from which ``design`` saves at least ``target_percent``.

    "From which" means for that value and every larger one, so the answer is where the saving is reached
    and kept. Returns None when it is never reached for good (the design's cost grows at least as fast
    as the allowed fraction of the baseline's). ``min_polls`` defaults to 1: a job is polled at least once.

    Costs are per job without free tiers, read off the fitted lines, so the answer is exact for the fits.
    """
    if isinstance(target_percent, bool) or not math.isfinite(target_percent) or not 0 <= target_percent <= 100:
        raise ValueError(f"target reduction must be between 0 and 100 percent, got {target_percent!r}")
    _check_polls(min_polls)
    keep = 1.0 - target_percent / 100.0  # design must cost at most keep x baseline

    def gap(p: float) -> float:
        return cost_at(design, prices, p).total - keep * cost_at(baseline, prices, p).total

    def scale(p: float) -> float:
        return cost_at(design, prices, p).total + keep * cost_at(baseline, prices, p).total

    def nonpositive(p: float, value: float) -> bool:
        return value <= _REL_TOL * scale(p)

    points = sorted({min_polls} | _breakpoints(design, min_polls) | _breakpoints(baseline, min_polls))
    design_slope, baseline_slope = _final_slope(design, prices), _final_slope(baseline, prices)
    slope = design_slope - keep * baseline_slope
    last = points[-1]
    g_last = gap(last)
    if abs(slope) <= _REL_TOL * (design_slope + keep * baseline_slope):
        slope = 0.0
    if slope > 0 or (slope == 0 and not nonpositive(last, g_last)):
        return None
    found: float
    if not nonpositive(last, g_last):
        found = last - g_last / slope
    else:
        # The condition holds from ``last`` on; walk back over the segments while it still holds.
        found = points[0]
        for lo, hi in zip(reversed(points[:-1]), reversed(points[1:])):
            g_lo = gap(lo)
            if not nonpositive(lo, g_lo):
                g_hi = gap(hi)
                found = lo + (hi - lo) * g_lo / (g_lo - g_hi)
                break
    baseline_cost = cost_at(baseline, prices, found).total
    if baseline_cost <= 0:
        raise ValueError(f"the baseline costs nothing at {found} polls per job; a reduction is undefined")
    measured = design.measured_polls + baseline.measured_polls
    return Threshold(polls=found, extrapolated=not min(measured) <= found <= max(measured))


def break_even_polls(
    design: AffineCounts, baseline: AffineCounts, prices: PriceTable, *, min_polls: float = 1.0
) -> Threshold | None:
    """Smallest polls per job (>= ``min_polls``) from which ``design`` costs no more than ``baseline``.

    None when the design never becomes and stays the cheaper one.
    """
    return polls_for_reduction(design, baseline, prices, 0.0, min_polls=min_polls)
