"""The cost model's arithmetic against hand-computed cases (prices: the test table of conftest.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sfn_callback.cost.model import (
    AffineCounts,
    billed_gb_seconds,
    break_even_polls,
    cost_at,
    cost_per_job,
    fit_affine,
    monthly_bill,
    polls_for_reduction,
    reduction_percent,
)
from sfn_callback.cost.pricing import PriceTable, parse_price_table
from sfn_callback.cost.usage import METERS, UsageCounts

JOB = UsageCounts(
    state_transitions=10,
    lambda_invocations=4,
    lambda_gb_seconds=0.5,
    scheduler_invocations=3,
    dynamodb_wcu=6,
    dynamodb_rcu=2,
    sqs_requests=5,
)


# ---- Lambda GB-seconds -------------------------------------------------------------------------------


def test_gb_seconds_round_each_duration_up_to_1_ms(prices: PriceTable) -> None:
    # 27.40 -> 28 ms, 28.0 -> 28 ms, 0.3 -> 1 ms, 0 -> 1 ms (minimum): 58 ms = 0.058 s
    # at 1024 MB = 1 GB: 0.058 GB-s; at 128 MB = 0.125 GB: 0.00725 GB-s
    assert billed_gb_seconds([27.40, 28.0, 0.3, 0.0], 1024, prices.lambda_billing) == pytest.approx(0.058)
    assert billed_gb_seconds([27.40, 28.0, 0.3, 0.0], 128, prices.lambda_billing) == pytest.approx(0.00725)


def test_gb_seconds_follow_the_table_granularity(price_data: dict[str, Any]) -> None:
    price_data["lambda_billing"] = {"granularity_ms": 100, "minimum_billed_ms": 100, "mb_per_gb": 1024}
    billing = parse_price_table(price_data).lambda_billing
    # 27.4 -> 100 ms, 150 -> 200 ms: 300 ms = 0.3 s at 512 MB = 0.5 GB: 0.15 GB-s
    assert billed_gb_seconds([27.4, 150], 512, billing) == pytest.approx(0.15)


def test_gb_seconds_of_no_invocation_is_zero(prices: PriceTable) -> None:
    assert billed_gb_seconds([], 256, prices.lambda_billing) == 0


@pytest.mark.parametrize(("durations", "memory"), [([-1.0], 128), ([math.nan], 128), ([10.0], 0), ([10.0], -128)])
def test_gb_seconds_reject_bad_input(prices: PriceTable, durations: list[float], memory: float) -> None:
    with pytest.raises(ValueError, match="Lambda"):
        billed_gb_seconds(durations, memory, prices.lambda_billing)


# ---- cost per job and monthly bill ---------------------------------------------------------------------


def test_cost_per_job_by_meter(prices: PriceTable) -> None:
    cost = cost_per_job(JOB, prices)
    assert cost.currency == "USD"
    expected = {
        "state_transitions": 0.00025,  # 10 x 0.025 / 1,000
        "lambda_invocations": 0.0000008,  # 4 x 0.20 / 1,000,000
        "lambda_gb_seconds": 0.00000833335,  # 0.5 x 0.0000166667
        "scheduler_invocations": 0.000003,  # 3 x 1.00 / 1,000,000
        "dynamodb_wcu": 0.00000375,  # 6 x 0.625 / 1,000,000
        "dynamodb_rcu": 0.00000025,  # 2 x 0.125 / 1,000,000
        "sqs_requests": 0.000002,  # 5 x 0.40 / 1,000,000
    }
    for meter, value in expected.items():
        assert cost.by_meter[meter] == pytest.approx(value, rel=1e-12), meter
    # 0.00025 + 0.0000008 + 0.00000833335 + 0.000003 + 0.00000375 + 0.00000025 + 0.000002
    assert cost.total == pytest.approx(0.00026813335, rel=1e-12)


def test_monthly_bill_without_free_tier_is_n_times_cost_per_job(prices: PriceTable) -> None:
    bill = monthly_bill(JOB, 1_000_000, prices, free_tier=False)
    # 250 + 0.8 + 8.33335 + 3 + 3.75 + 0.25 + 2
    assert bill.total == pytest.approx(268.13335, rel=1e-12)


def test_monthly_bill_with_free_tier(prices: PriceTable) -> None:
    bill = monthly_bill(JOB, 1_000_000, prices, free_tier=True)
    expected = {
        "state_transitions": 249.9,  # (10,000,000 - 4,000) x 0.000025
        "lambda_invocations": 0.6,  # (4,000,000 - 1,000,000) x 0.0000002
        "lambda_gb_seconds": 1.66667,  # (500,000 - 400,000) x 0.0000166667
        "scheduler_invocations": 0.0,  # 3,000,000 < 14,000,000 free
        "dynamodb_wcu": 3.75,  # 6,000,000 x 0.000000625, no free allowance
        "dynamodb_rcu": 0.25,  # 2,000,000 x 0.000000125
        "sqs_requests": 1.6,  # (5,000,000 - 1,000,000) x 0.0000004
    }
    for meter, value in expected.items():
        assert bill.by_meter[meter] == pytest.approx(value, rel=1e-12, abs=1e-12), meter
    assert bill.total == pytest.approx(257.76667, rel=1e-12)


def test_usage_below_the_free_tier_costs_nothing(prices: PriceTable) -> None:
    # 100 jobs: 1,000 transitions < 4,000; 400 requests < 1M; 50 GB-s < 400,000; 300 < 14M; 500 < 1M
    small = UsageCounts(
        state_transitions=10, lambda_invocations=4, lambda_gb_seconds=0.5, scheduler_invocations=3, sqs_requests=5
    )
    bill = monthly_bill(small, 100, prices, free_tier=True)
    assert bill.total == 0
    assert all(v == 0 for v in bill.by_meter.values())


def test_usage_exactly_at_the_free_tier_costs_nothing(prices: PriceTable) -> None:
    # 4,000 jobs x 1 transition = 4,000 = the free allowance
    assert monthly_bill(UsageCounts(state_transitions=1), 4000, prices, free_tier=True).total == 0
    # one more job: 1 transition x 0.000025
    assert monthly_bill(UsageCounts(state_transitions=1), 4001, prices, free_tier=True).total == pytest.approx(0.000025)


def test_zero_jobs_cost_nothing(prices: PriceTable) -> None:
    assert monthly_bill(JOB, 0, prices, free_tier=False).total == 0


@pytest.mark.parametrize("jobs", [-1, math.inf, math.nan])
def test_bad_jobs_per_month(prices: PriceTable, jobs: float) -> None:
    with pytest.raises(ValueError, match="jobs per month"):
        monthly_bill(JOB, jobs, prices, free_tier=True)


def test_cost_breakdown_to_dict(prices: PriceTable) -> None:
    data = cost_per_job(UsageCounts(state_transitions=4), prices).to_dict()
    assert data["currency"] == "USD"
    assert data["total"] == pytest.approx(0.0001)  # 4 x 0.000025
    assert set(data["by_meter"]) == set(METERS)


# ---- reduction ---------------------------------------------------------------------------------------


def test_reduction_percent() -> None:
    assert reduction_percent(25, 100) == pytest.approx(75)  # (100 - 25) / 100
    assert reduction_percent(100, 100) == 0
    assert reduction_percent(150, 100) == pytest.approx(-50)  # dearer: negative
    assert reduction_percent(0, 100) == 100


@pytest.mark.parametrize(("design", "baseline"), [(1, 0), (1, -1), (-1, 1), (math.nan, 1)])
def test_reduction_rejects_bad_costs(design: float, baseline: float) -> None:
    with pytest.raises(ValueError, match="cost"):
        reduction_percent(design, baseline)


# ---- affine fit ----------------------------------------------------------------------------------------

POLLS = (1, 3, 5, 10, 15, 30)


def _affine(fixed: dict[str, float], per_poll: dict[str, float]) -> dict[float, UsageCounts]:
    return {
        p: UsageCounts(**{m: fixed.get(m, 0.0) + per_poll.get(m, 0.0) * p for m in METERS}) for p in POLLS
    }


def test_fit_is_exact_on_affine_data() -> None:
    fixed = {"state_transitions": 2, "lambda_invocations": 1, "lambda_gb_seconds": 0.25, "dynamodb_wcu": 3}
    per_poll = {"state_transitions": 3, "lambda_invocations": 1, "lambda_gb_seconds": 0.0125, "dynamodb_rcu": 0.5}
    fit = fit_affine(_affine(fixed, per_poll))
    for m in METERS:
        assert fit.fixed[m] == pytest.approx(fixed.get(m, 0.0), abs=1e-12), m
        assert fit.per_poll[m] == pytest.approx(per_poll.get(m, 0.0), abs=1e-12), m
        assert fit.max_abs_residual[m] == pytest.approx(0.0, abs=1e-12), m
    assert fit.measured_polls == tuple(float(p) for p in POLLS)
    # at 7 polls: 2 + 3 x 7 = 23 transitions
    assert fit.at(7).state_transitions == pytest.approx(23)


def test_fit_is_least_squares_on_noisy_data() -> None:
    # points (0, 1), (1, 3), (2, 2): x mean 1, y mean 2, Sxy = (-1)(-1) + 0 + (1)(0) = 1, Sxx = 2
    # slope 1/2, intercept 2 - 1/2 = 1.5; residuals 1 - 1.5 = -0.5, 3 - 2 = 1, 2 - 2.5 = -0.5
    fit = fit_affine({0: UsageCounts(sqs_requests=1), 1: UsageCounts(sqs_requests=3), 2: UsageCounts(sqs_requests=2)})
    assert fit.per_poll["sqs_requests"] == pytest.approx(0.5)
    assert fit.fixed["sqs_requests"] == pytest.approx(1.5)
    assert fit.max_abs_residual["sqs_requests"] == pytest.approx(1.0)


def test_fit_needs_two_polls_values() -> None:
    with pytest.raises(ValueError, match="two or more polls values"):
        fit_affine({5: UsageCounts(state_transitions=17)})


def test_fit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="polls per job"):
        fit_affine({-1: UsageCounts(), 2: UsageCounts()})
    with pytest.raises(ValueError, match="UsageCounts"):
        fit_affine({1: UsageCounts(), 2: {"state_transitions": 3}})  # type: ignore[dict-item]


def test_fitted_counts_never_go_negative() -> None:
    fit = AffineCounts(
        fixed={m: -1.0 for m in METERS},
        per_poll={m: 1.0 for m in METERS},
        measured_polls=(2.0, 4.0),
        max_abs_residual={m: 0.0 for m in METERS},
    )
    assert fit.at(0.5) == UsageCounts()  # -1 + 0.5 < 0 -> 0
    assert fit.at(3).state_transitions == 2


def test_fit_round_trips_through_a_dict() -> None:
    fit = fit_affine(_affine({"state_transitions": 2}, {"state_transitions": 3}))
    assert AffineCounts.from_dict(fit.to_dict()) == fit
    with pytest.raises(ValueError, match="malformed affine fit"):
        AffineCounts.from_dict({"fixed": {}})


# ---- thresholds ----------------------------------------------------------------------------------------
# Design:   4 transitions + 5 scheduler invocations per poll -> 4 x 25e-6 + 5p x 1e-6 = 100e-6 + 5e-6 p
# Baseline: 2 transitions + 3 per poll                       -> (2 + 3p) x 25e-6     =  50e-6 + 75e-6 p


@pytest.fixture
def design() -> AffineCounts:
    return fit_affine(_affine({"state_transitions": 4}, {"scheduler_invocations": 5}))


@pytest.fixture
def baseline() -> AffineCounts:
    return fit_affine(_affine({"state_transitions": 2}, {"state_transitions": 3}))


def test_cost_at(design: AffineCounts, baseline: AffineCounts, prices: PriceTable) -> None:
    assert cost_at(design, prices, 2).total == pytest.approx(110e-6)  # 100 + 5 x 2
    assert cost_at(baseline, prices, 2).total == pytest.approx(200e-6)  # 50 + 75 x 2


def test_break_even(design: AffineCounts, baseline: AffineCounts, prices: PriceTable) -> None:
    # 100 + 5p = 50 + 75p  ->  p = 50 / 70 = 5/7
    found = break_even_polls(design, baseline, prices, min_polls=0)
    assert found is not None
    assert found.polls == pytest.approx(5 / 7)
    assert found.extrapolated  # below the first measured value, 1
    # From one poll on the design is already cheaper (105e-6 < 125e-6): the answer is the lower bound.
    at_one = break_even_polls(design, baseline, prices)
    assert at_one is not None and at_one.polls == 1 and not at_one.extrapolated


def test_polls_for_87_percent(design: AffineCounts, baseline: AffineCounts, prices: PriceTable) -> None:
    # 100 + 5p <= 0.13 (50 + 75p) = 6.5 + 9.75p  ->  93.5 <= 4.75p  ->  p >= 19.684...
    found = polls_for_reduction(design, baseline, prices, 87)
    assert found is not None
    assert found.polls == pytest.approx(93.5 / 4.75)
    assert not found.extrapolated
    design_cost = cost_at(design, prices, found.polls).total
    baseline_cost = cost_at(baseline, prices, found.polls).total
    assert reduction_percent(design_cost, baseline_cost) == pytest.approx(87)


def test_target_beyond_the_measurements_is_extrapolated(
    design: AffineCounts, baseline: AffineCounts, prices: PriceTable
) -> None:
    # 100 + 5p <= 0.10 (50 + 75p) = 5 + 7.5p  ->  95 <= 2.5p  ->  p >= 38 > 30 measured
    found = polls_for_reduction(design, baseline, prices, 90)
    assert found is not None and found.polls == pytest.approx(38) and found.extrapolated


def test_target_never_reached_is_none(design: AffineCounts, baseline: AffineCounts, prices: PriceTable) -> None:
    # 95%: 100 + 5p <= 2.5 + 3.75p  ->  97.5 <= -1.25p: never
    assert polls_for_reduction(design, baseline, prices, 95) is None
    # 100 x (1 - 1/15)%: the lines 100 + 5p and (50 + 75p) / 15 are parallel, the design stays above
    assert polls_for_reduction(design, baseline, prices, 100 * (1 - 1 / 15)) is None


def test_break_even_never_when_the_design_grows_faster(
    design: AffineCounts, baseline: AffineCounts, prices: PriceTable
) -> None:
    # Swapped: 50 + 75p is never again below 100 + 5p once p > 5/7.
    assert break_even_polls(baseline, design, prices) is None


def test_threshold_walks_back_across_a_bend(prices: PriceTable) -> None:
    # Design: 10 - 2p transitions, zero from p = 5 on; baseline: 1 + 0.1p transitions.
    # 10 - 2p <= 1 + 0.1p  ->  p >= 9 / 2.1, before the bend at 5.
    design = AffineCounts(
        fixed={m: 10.0 if m == "state_transitions" else 0.0 for m in METERS},
        per_poll={m: -2.0 if m == "state_transitions" else 0.0 for m in METERS},
        measured_polls=(1.0, 10.0),
        max_abs_residual={m: 0.0 for m in METERS},
    )
    baseline = fit_affine({1: UsageCounts(state_transitions=1.1), 10: UsageCounts(state_transitions=2)})
    found = break_even_polls(design, baseline, prices)
    assert found is not None and found.polls == pytest.approx(9 / 2.1)


def test_threshold_already_met_at_the_lower_bound(
    design: AffineCounts, baseline: AffineCounts, prices: PriceTable
) -> None:
    # 10%: 100 + 5 x 1 = 105 <= 0.9 x 125 = 112.5 at one poll already
    found = polls_for_reduction(design, baseline, prices, 10)
    assert found is not None and found.polls == 1


@pytest.mark.parametrize("target", [-1, 100.5, math.nan])
def test_threshold_rejects_bad_targets(
    design: AffineCounts, baseline: AffineCounts, prices: PriceTable, target: float
) -> None:
    with pytest.raises(ValueError, match="target reduction"):
        polls_for_reduction(design, baseline, prices, target)


def test_threshold_follows_the_prices(design: AffineCounts, baseline: AffineCounts, price_data: dict[str, Any]) -> None:
    # Scheduler 10x dearer: design 100e-6 + 50e-6 p; 87%: 100 + 50p <= 6.5 + 9.75p -> 93.5 <= -40.25p: never
    price_data["meters"]["scheduler_invocations"]["price"] = 10.0
    assert polls_for_reduction(design, baseline, parse_price_table(price_data), 87) is None
