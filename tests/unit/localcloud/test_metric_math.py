"""Metric math (pure): the semantics of the CloudWatch user guide's "Using metric math"."""

from __future__ import annotations

import pytest

from sfn_callback.localcloud.metric_math import Context, MathError, TimeSeries, evaluate, evaluate_series

GRID = [0.0, 60.0, 120.0, 180.0, 240.0]


def ts(*values: float | None, period: int = 60) -> TimeSeries:
    """A series over GRID; None is a missing data point."""
    return TimeSeries({t: v for t, v in zip(GRID, values) if v is not None}, period=period)


def context(**series: TimeSeries) -> Context:
    def resolve(name: str) -> TimeSeries:
        if name not in series:
            raise MathError(f"Unknown metric or expression id: {name}")
        return series[name]

    return Context(grid=GRID, resolve=resolve, metric_ids=list(series))


def values(result: TimeSeries) -> list[float | None]:
    return [result.points.get(t) for t in GRID]


def test_arithmetic_treats_a_missing_value_as_zero_and_drops_division_by_zero():
    ctx = context(errors=ts(1, None, 3, None, 0), calls=ts(10, 5, None, None, 0))
    rate = evaluate("100 * errors / (errors + calls)", ctx)
    # t=60: 0/(0+5) = 0; t=120: 3/(3+0) = 100; t=180: both missing -> no point; t=240: 0/0 -> dropped.
    assert values(rate) == [pytest.approx(100 / 11), 0.0, 100.0, None, None]
    assert values(evaluate("-errors ^ 2", ctx)) == [-1.0, None, -9.0, None, -0.0]
    assert evaluate("2 + 3 * 4", ctx) == 14.0
    assert evaluate("(2 + 3) * 4 - 2 ^ 3 ^ 2 / 64", ctx) == 20.0 - 8.0


def test_fill_with_a_value_repeat_linear_and_another_series():
    ctx = context(m1=ts(None, 2, None, None, 8), m2=ts(9, 9, 9, 9, 9))
    assert values(evaluate("FILL(m1, 0)", ctx)) == [0.0, 2.0, 0.0, 0.0, 8.0]
    assert values(evaluate("FILL(m1, REPEAT)", ctx)) == [2.0, 2.0, 2.0, 2.0, 8.0]
    assert values(evaluate("FILL(m1, LINEAR)", ctx)) == [None, 2.0, 4.0, 6.0, 8.0]
    assert values(evaluate("FILL(m1, m2)", ctx)) == [9.0, 2.0, 9.0, 9.0, 8.0]
    filled = evaluate("FILL(METRICS(), 1)", ctx)
    assert [values(s) for s in filled] == [[1.0, 2.0, 1.0, 1.0, 8.0], [9.0] * 5]


def test_if_follows_the_guides_tables():
    metric1, metric2, metric3 = ts(1, 1, 0, 0, None), ts(30, None, 0, 0, 30), ts(0, 0, 20, None, 20)
    ctx = context(metric1=metric1, metric2=metric2, metric3=metric3)
    assert values(evaluate("IF(metric1, metric2, metric3)", ctx)) == [30.0, 0.0, 20.0, None, None]
    assert values(evaluate("IF(metric1, 5, metric3)", ctx)) == [5.0, 5.0, 20.0, None, None]
    assert values(evaluate("IF(metric1, metric2, 5)", ctx)) == [30.0, 0.0, 5.0, 5.0, None]
    assert values(evaluate("IF(metric2 > 10, 1, 0)", ctx)) == [1.0, None, 0.0, 0.0, 1.0]


def test_comparisons_and_logic_from_the_guide():
    ctx = context(metric1=ts(30, 20, 0, 0), metric2=ts(20, None, 20, None))
    assert values(evaluate("metric1 < metric2", ctx))[:4] == [0.0, 0.0, 1.0, 0.0]
    assert values(evaluate("metric1 >= 30", ctx))[:4] == [1.0, 0.0, 0.0, 0.0]
    assert values(evaluate("metric1 > 15 AND metric2 > 15", ctx))[:4] == [1.0, 0.0, 0.0, 0.0]
    assert values(evaluate("metric1 > 25 || metric2 > 15", ctx))[:4] == [1.0, 0.0, 1.0, 0.0]


def test_reducers_of_a_series_and_of_an_array():
    ctx = context(a=ts(1, 2, None, 4, None), b=ts(3, None, None, 4, 5))
    assert evaluate("SUM(a)", ctx) == 7.0 and evaluate("AVG(a)", ctx) == pytest.approx(7 / 3)
    assert evaluate("MAX(b)", ctx) == 5.0 and evaluate("DATAPOINT_COUNT(b)", ctx) == 3.0
    assert values(evaluate("SUM([a, b])", ctx)) == [4.0, 2.0, None, 8.0, 5.0]
    assert values(evaluate("AVG([a, b])", ctx)) == [2.0, 1.0, None, 4.0, 2.5]  # missing counts as 0
    assert values(evaluate("MIN([a, b])", ctx)) == [1.0, 2.0, None, 4.0, 5.0]
    assert values(evaluate("a - AVG(a)", ctx))[0] == pytest.approx(1 - 7 / 3)
    assert evaluate("PERIOD(a)", ctx) == 60.0
    assert values(evaluate("TIME_SERIES(7)", ctx)) == [7.0] * 5
    assert values(evaluate("RUNNING_SUM(a)", ctx)) == [1.0, 3.0, None, 7.0, None]
    assert values(evaluate("DIFF(a)", ctx)) == [None, 1.0, None, 2.0, None]
    assert values(evaluate("RATE(a)", ctx))[3] == pytest.approx(2 / 120)
    assert values(evaluate("ABS(a - 3)", ctx)) == [2.0, 1.0, None, 1.0, None]  # a scalar keeps the gaps


def test_metrics_selects_by_id_substring():
    ctx = context(errors_a=ts(1), errors_b=ts(2), calls=ts(3))
    assert [values(s)[0] for s in evaluate('METRICS("errors")', ctx)] == [1.0, 2.0]
    assert values(evaluate('SUM(METRICS("errors"))', ctx))[0] == 3.0


@pytest.mark.parametrize("expression,fragment", [
    ("SEARCH('{AWS/EC2} CPU', 'Average', 60)", "SEARCH is not supported"),
    ("ANOMALY_DETECTION_BAND(m1)", "ANOMALY_DETECTION_BAND is not supported"),
    ("m1 +", "Syntax error"),
    ("(m1", "Syntax error"),
    ("unknown1 * 2", "Unknown metric or expression id: unknown1"),
    ("FILL(m1)", "FILL takes 2"),
    ("", "empty"),
    ("m1 $ 2", "Syntax error"),
])
def test_errors_name_the_problem(expression, fragment):
    with pytest.raises(MathError) as raised:
        evaluate(expression, context(m1=ts(1, 2)))
    assert fragment in str(raised.value)


def test_the_final_result_must_be_a_time_series():
    ctx = context(m1=ts(1, 2))
    with pytest.raises(MathError, match="must return a time series"):
        evaluate_series("SUM(m1)", ctx)
    assert len(evaluate_series("m1 / SUM(m1)", ctx)) == 1
    assert len(evaluate_series("METRICS()", ctx)) == 1
