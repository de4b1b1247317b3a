"""Comparison across polls values: rows, JSON form, Rich table, PNG plot, and a seed-shaped sanity check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from sfn_callback.cost.comparison import Comparison, compare_designs, measurements_from_dict
from sfn_callback.cost.model import billed_gb_seconds, cost_per_job
from sfn_callback.cost.pricing import PriceTable
from sfn_callback.cost.tables import describe_threshold, format_money, format_polls, render_comparison
from sfn_callback.cost.usage import UsageCounts

POLLS = (1, 3, 5, 10, 15, 30)


def _design(p: float) -> UsageCounts:
    # 4 transitions + 5 scheduler invocations per poll: 100e-6 + 5e-6 p
    return UsageCounts(state_transitions=4, scheduler_invocations=5 * p)


def _baseline(p: float) -> UsageCounts:
    # 2 + 3p transitions: 50e-6 + 75e-6 p
    return UsageCounts(state_transitions=2 + 3 * p)


@pytest.fixture
def comparison(prices: PriceTable) -> Comparison:
    return compare_designs(
        {p: _design(p) for p in POLLS}, {p: _baseline(p) for p in POLLS}, prices, jobs_per_month=10_000
    )


def test_rows_price_the_measured_counts(comparison: Comparison) -> None:
    assert [row.polls for row in comparison.rows] == list(POLLS)
    first = comparison.rows[0]
    assert first.source == "measured"
    assert first.design.cost_per_job.total == pytest.approx(105e-6)  # 100 + 5 x 1
    assert first.baseline.cost_per_job.total == pytest.approx(125e-6)  # 50 + 75 x 1
    assert first.reduction_percent == pytest.approx(16.0)  # (125 - 105) / 125
    # 10,000 jobs x 4 transitions = 40,000; minus 4,000 free = 36,000 x 0.000025 = 0.90; scheduler 50,000 < 14M free
    assert first.design.monthly_with_free_tier is not None
    assert first.design.monthly_with_free_tier.total == pytest.approx(0.90)
    # without free tier: 10,000 x 105e-6 = 1.05
    assert first.design.monthly_without_free_tier is not None
    assert first.design.monthly_without_free_tier.total == pytest.approx(1.05)


def test_unmeasured_polls_use_the_fit(prices: PriceTable) -> None:
    result = compare_designs({p: _design(p) for p in POLLS}, {p: _baseline(p) for p in POLLS}, prices, polls=[2, 5])
    assert [(row.polls, row.source) for row in result.rows] == [(2, "fitted"), (5, "measured")]
    assert result.rows[0].design.cost_per_job.total == pytest.approx(110e-6)  # 100 + 5 x 2
    assert result.rows[0].design.monthly_with_free_tier is None  # no jobs per month given


def test_thresholds_of_the_comparison(comparison: Comparison) -> None:
    assert comparison.break_even is not None and comparison.break_even.polls == 1
    assert comparison.target_reached is not None
    assert comparison.target_reached.polls == pytest.approx(93.5 / 4.75)  # see test_model.py


def test_to_dict_is_json_and_round_trips_the_measurements(comparison: Comparison, prices: PriceTable) -> None:
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["price_table"]["as_of"] == "2026-01-15"
    assert data["design"] == "callback" and data["baseline"] == "polling"
    assert data["target_reduction_percent"] == 87.0
    assert data["rows"][0]["reduction_percent"] == pytest.approx(16.0)
    assert data["target_reached"]["polls"] == pytest.approx(93.5 / 4.75)
    saved = measurements_from_dict(data)
    again = compare_designs(saved["callback"], saved["polling"], prices)
    assert again.target_reached == comparison.target_reached


def test_malformed_saved_comparison() -> None:
    with pytest.raises(ValueError, match="malformed saved comparison"):
        measurements_from_dict({"rows": []})


def test_same_names_are_rejected(prices: PriceTable) -> None:
    with pytest.raises(ValueError, match="different names"):
        compare_designs(
            {1: _design(1), 2: _design(2)},
            {1: _baseline(1), 2: _baseline(2)},
            prices,
            design_name="x",
            baseline_name="x",
        )


def test_rich_table_shows_rows_and_thresholds(comparison: Comparison) -> None:
    console = Console(record=True, width=200)
    console.print(render_comparison(comparison))
    text = console.export_text()
    assert "$0.00010500" in text and "$0.00012500" in text and "16.0%" in text
    assert "87% reduction reached: from 19.68 polls per job" in text
    assert "callback no dearer than polling: from 1 poll per job" in text
    assert "as of 2026-01-15" in text


def test_formatting_helpers() -> None:
    assert format_money(0.000105, "USD") == "$0.00010500"
    assert format_money(1234.5, "EUR", 2) == "EUR 1,234.50"
    assert format_polls(15.0) == "15" and format_polls(19.684) == "19.68"
    never = "87% reduction reached: never, at any number of polls per job"
    assert describe_threshold(None, "87% reduction reached") == never


def test_plot_writes_a_png(comparison: Comparison, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from sfn_callback.cost.plot import plot_cost_per_job

    path = plot_cost_per_job(comparison, tmp_path / "cost.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_plot_without_a_crossing(prices: PriceTable, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from sfn_callback.cost.plot import plot_cost_per_job

    never = compare_designs(
        {p: _design(p) for p in POLLS}, {p: _baseline(p) for p in POLLS}, prices, target_reduction_percent=95
    )
    assert never.target_reached is None
    path = plot_cost_per_job(never, tmp_path / "never.png", max_polls=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="max_polls"):
        plot_cost_per_job(never, tmp_path / "bad.png", max_polls=0.5)


# ---- sanity check on counts derived from seed 000's workflow and functions ----------------------------
# Assumptions, stated: every Lambda invocation runs 100 ms at 128 MB; the token item is 2.5 KB (a ~2 KB
# task token plus attributes), the job item 0.5 KB. DynamoDB on-demand: a write costs ceil(KB) write
# units on the whole item; an eventually consistent read costs 0.5 read unit per 4 KB.
TOKEN_ITEM_KB, JOB_ITEM_KB, LAMBDA_MS, LAMBDA_MB = 2.5, 0.5, 100.0, 128


def _wcu(kb: float) -> float:
    return float(math.ceil(kb))


def _rcu(kb: float) -> float:
    return math.ceil(kb / 4) * 0.5


def _seed_callback(p: int, prices: PriceTable) -> UsageCounts:
    """ProcessRecord (lambda:invoke.waitForTaskToken) -> ProcessingComplete; one schedule fires the poller."""
    lambdas = 2 + 2 * p  # CreateJob + simulated API create; per poll: poller + simulated API status
    return UsageCounts(
        state_transitions=2,  # ProcessRecord, ProcessingComplete
        lambda_invocations=lambdas,
        lambda_gb_seconds=billed_gb_seconds([LAMBDA_MS] * lambdas, LAMBDA_MB, prices.lambda_billing),
        scheduler_invocations=p,  # one poller invocation per poll
        # create: job put + token put; per poll: token attemptCount update + job pollCount update;
        # end: job status update + token status update
        dynamodb_wcu=_wcu(JOB_ITEM_KB) + _wcu(TOKEN_ITEM_KB) + p * (_wcu(TOKEN_ITEM_KB) + _wcu(JOB_ITEM_KB))
        + _wcu(JOB_ITEM_KB) + _wcu(TOKEN_ITEM_KB),
        dynamodb_rcu=p * (_rcu(TOKEN_ITEM_KB) + _rcu(JOB_ITEM_KB)),  # per poll: token get + job get
    )


def _seed_polling(p: int, prices: PriceTable) -> UsageCounts:
    """SubmitJob -> (Wait -> CheckStatus -> IsDone) per poll -> Done, the same functions and tables."""
    lambdas = 2 + 2 * p  # SubmitJob + simulated API create; per poll: CheckStatus + simulated API status
    return UsageCounts(
        state_transitions=2 + 3 * p,
        lambda_invocations=lambdas,
        lambda_gb_seconds=billed_gb_seconds([LAMBDA_MS] * lambdas, LAMBDA_MB, prices.lambda_billing),
        dynamodb_wcu=_wcu(JOB_ITEM_KB) + p * _wcu(JOB_ITEM_KB) + _wcu(JOB_ITEM_KB),
        dynamodb_rcu=p * _rcu(JOB_ITEM_KB),
    )


def test_seed_shaped_counts(prices: PriceTable) -> None:
    result = compare_designs(
        {p: _seed_callback(p, prices) for p in POLLS}, {p: _seed_polling(p, prices) for p in POLLS}, prices
    )
    u = {m: meter.unit_price for m, meter in prices.meters.items()}
    lambda_pair = 2 * u["lambda_invocations"] + 2 * 0.0125 * u["lambda_gb_seconds"]  # 2 x (request + 0.1 s x 0.125 GB)
    # callback: a0 = 2 transitions + 2 lambdas + 8 WCU (1 + 3 + 1 + 3); a1 = 2 lambdas + 1 schedule + 4 WCU + 1 RCU
    a0 = 2 * u["state_transitions"] + lambda_pair + 8 * u["dynamodb_wcu"]
    a1 = lambda_pair + u["scheduler_invocations"] + 4 * u["dynamodb_wcu"] + 1 * u["dynamodb_rcu"]
    # polling: b0 = 2 transitions + 2 lambdas + 2 WCU; b1 = 3 transitions + 2 lambdas + 1 WCU + 0.5 RCU
    b0 = 2 * u["state_transitions"] + lambda_pair + 2 * u["dynamodb_wcu"]
    b1 = 3 * u["state_transitions"] + lambda_pair + u["dynamodb_wcu"] + 0.5 * u["dynamodb_rcu"]
    for row in result.rows:
        assert row.design.cost_per_job.total == pytest.approx(a0 + a1 * row.polls, rel=1e-9)
        assert row.baseline.cost_per_job.total == pytest.approx(b0 + b1 * row.polls, rel=1e-9)
    reductions = [row.reduction_percent for row in result.rows]
    assert reductions == sorted(reductions)  # the saving grows with polls
    assert reductions[0] < 87  # not at one poll
    # a0 + a1 p = 0.13 (b0 + b1 p)  ->  p = (a0 - 0.13 b0) / (0.13 b1 - a1)
    assert result.target_reached is not None
    assert result.target_reached.polls == pytest.approx((a0 - 0.13 * b0) / (0.13 * b1 - a1), rel=1e-9)
    assert cost_per_job(_seed_callback(1, prices), prices).total < cost_per_job(_seed_polling(1, prices), prices).total
