"""UsageCounts: validation and the arithmetic used to average and scale jobs."""

from __future__ import annotations

import math

import pytest

from sfn_callback.cost.usage import METERS, UsageCounts


def test_defaults_are_zero_and_meters_are_the_fields() -> None:
    assert UsageCounts().as_dict() == {m: 0.0 for m in METERS}
    assert METERS == (
        "state_transitions",
        "lambda_invocations",
        "lambda_gb_seconds",
        "scheduler_invocations",
        "dynamodb_wcu",
        "dynamodb_rcu",
        "sqs_requests",
    )


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, math.inf, True, "3"])
def test_bad_counts_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="state_transitions"):
        UsageCounts(state_transitions=bad)  # type: ignore[arg-type]


def test_from_dict_rejects_unknown_meters() -> None:
    with pytest.raises(ValueError, match="unknown usage meter"):
        UsageCounts.from_dict({"state_transitions": 3, "lambda_calls": 1})


def test_from_dict_fills_missing_with_zero() -> None:
    assert UsageCounts.from_dict({"sqs_requests": 2}) == UsageCounts(sqs_requests=2)


def test_add_scale_and_mean() -> None:
    a = UsageCounts(state_transitions=2, lambda_invocations=1, dynamodb_wcu=3)
    b = UsageCounts(state_transitions=4, lambda_invocations=3, dynamodb_wcu=1)
    assert a + b == UsageCounts(state_transitions=6, lambda_invocations=4, dynamodb_wcu=4)
    assert a.scaled(10) == UsageCounts(state_transitions=20, lambda_invocations=10, dynamodb_wcu=30)
    # mean of (2, 4) = 3, of (1, 3) = 2, of (3, 1) = 2
    assert UsageCounts.mean([a, b]) == UsageCounts(state_transitions=3, lambda_invocations=2, dynamodb_wcu=2)


def test_mean_of_nothing_and_negative_scale_are_errors() -> None:
    with pytest.raises(ValueError, match="zero jobs"):
        UsageCounts.mean([])
    with pytest.raises(ValueError, match="scale factor"):
        UsageCounts(state_transitions=1).scaled(-1)
