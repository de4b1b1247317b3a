"""The alarm decision (pure): the CloudWatch user guide's missing-data tables, M out of N, reason text."""

from __future__ import annotations

import json

import pytest

from sfn_callback.localcloud.alarms import (
    ALARM,
    INSUFFICIENT,
    OK,
    Datapoint,
    Rule,
    evaluate,
    evaluation_step,
    iso_millis,
    java_double,
    low_sample_count,
    valid_alarm_period,
    validate_alarm,
)

NOW = 1_800_000_000.0  # a period boundary for 10, 60 and 300 s
RETAIN = None  # "Retain current state"


def points(pattern: str, period: int = 300, breach: float = 5.0, calm: float = 0.0) -> list[Datapoint]:
    """``"0 - X - X"`` (oldest first): 0 not breaching, X breaching, - missing; the newest ends at NOW."""
    marks = pattern.split()
    start = NOW - len(marks) * period
    values = {"0": calm, "X": breach, "-": None}
    return [Datapoint(start + i * period, values[m], 1.0 if values[m] is not None else None)
            for i, m in enumerate(marks)]


def rule(treatment: str, n: int = 3, m: int | None = 3, period: int = 300) -> Rule:
    return Rule(comparison="GreaterThanThreshold", threshold=1.0, evaluation_periods=n, period=period,
                datapoints_to_alarm=m, treat_missing_data=treatment, statistic="Sum")


TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")

# The guide's first table: EvaluationPeriods = DatapointsToAlarm = 3, five datapoints retrieved.
THREE_OF_THREE = [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT, RETAIN, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - - - X", (INSUFFICIENT, RETAIN, ALARM, OK)),
]
# The second table: 2 out of 3.
TWO_OF_THREE = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - - X", (INSUFFICIENT, RETAIN, ALARM, OK)),
]


@pytest.mark.parametrize("pattern,expected", THREE_OF_THREE)
def test_the_guides_three_out_of_three_table(pattern, expected):
    for treatment, state in zip(TREATMENTS, expected):
        assert evaluate(rule(treatment, 3, 3), points(pattern), NOW).state == state, (pattern, treatment)


@pytest.mark.parametrize("pattern,expected", TWO_OF_THREE)
def test_the_guides_two_out_of_three_table(pattern, expected):
    for treatment, state in zip(TREATMENTS, expected):
        assert evaluate(rule(treatment, 3, 2), points(pattern), NOW).state == state, (pattern, treatment)


def test_m_out_of_n_uses_the_newest_n_real_datapoints():
    # Four real points; the newest three are X 0 X: 2 breaching -> ALARM for 2 of 3, OK for 3 of 3.
    pattern = "X X X 0 X"
    assert evaluate(rule("missing", 3, 2), points(pattern), NOW).state == ALARM
    assert evaluate(rule("missing", 3, 3), points(pattern), NOW).state == OK


def test_reason_text_for_a_breach_with_datapoints_to_alarm():
    outcome = evaluate(rule("missing", 3, 2, period=60), points("0 0 X 0 X", period=60, breach=5.0), NOW)
    assert outcome.state == ALARM
    first, second = iso_millis(NOW - 60), iso_millis(NOW - 180)
    assert outcome.reason == ("Threshold Crossed: 2 out of the last 3 datapoints [5.0 (15/01/27 07:59:00), "
                              "5.0 (15/01/27 07:57:00)] were greater than the threshold (1.0) "
                              "(minimum 2 datapoints for OK -> ALARM transition).")
    data = outcome.reason_data
    assert data["version"] == "1.0" and data["statistic"] == "Sum" and data["period"] == 60
    assert data["threshold"] == 1.0
    assert data["recentDatapoints"] == [5.0, 0.0, 5.0]  # oldest first
    assert [p["timestamp"] for p in data["evaluatedDatapoints"]] == [first, iso_millis(NOW - 120), second]
    assert data["evaluatedDatapoints"][0] == {"timestamp": first, "sampleCount": 1.0, "value": 5.0}
    assert data["startDate"] == second and data["queryDate"] == iso_millis(NOW)
    json.dumps(data)  # serializable as StateReasonData


def test_reason_text_for_recovery_counts_the_calm_datapoints():
    outcome = evaluate(rule("missing", 3, 2, period=60), points("X X 0 0 X", period=60), NOW)
    assert outcome.state == OK
    assert outcome.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [0.0 (")
    assert outcome.reason.endswith("] were not greater than the threshold (1.0) "
                                   "(minimum 2 datapoints for ALARM -> OK transition).")


def test_reason_text_without_datapoints_to_alarm_keeps_the_older_wording():
    outcome = evaluate(rule("missing", 1, None, period=60), points("- - X", period=60, breach=3.0), NOW)
    assert outcome.state == ALARM
    assert outcome.reason == "Threshold Crossed: 1 datapoint [3.0 (15/01/27 07:59:00)] was greater than the " \
                             "threshold (1.0)."


def test_reason_text_for_missing_data_treated_as_breaching_and_insufficient_data():
    none = evaluate(rule("breaching", 2, 2), points("- - - -"), NOW)
    assert none.state == ALARM
    assert none.reason == ("Threshold Crossed: no datapoints were received for 2 periods and 2 missing "
                           "datapoints were treated as [Breaching].")
    assert none.reason_data["recentDatapoints"] == [] and "startDate" not in none.reason_data
    assert none.reason_data["evaluatedDatapoints"] == [{"timestamp": iso_millis(NOW - 300)},
                                                        {"timestamp": iso_millis(NOW - 600)}]
    some = evaluate(rule("notBreaching", 3, 3), points("- - - - X"), NOW)
    assert some.state == OK
    assert some.reason == ("Threshold Crossed: 1 datapoint was received for 3 periods and 2 missing datapoints "
                           "were treated as [NonBreaching].")
    unknown = evaluate(rule("missing", 1, 1), points("- - -"), NOW)
    assert unknown.state == INSUFFICIENT and unknown.reason == "Insufficient Data: 1 datapoint was unknown."


def test_metric_math_reason_data_has_no_statistic_or_sample_count():
    math_rule = Rule(comparison="GreaterThanOrEqualToThreshold", threshold=5.0, evaluation_periods=1, period=10,
                     datapoints_to_alarm=1)
    outcome = evaluate(math_rule, [Datapoint(NOW - 30, None), Datapoint(NOW - 20, None), Datapoint(NOW - 10, 50.0)],
                       NOW)
    assert outcome.state == ALARM
    assert "statistic" not in outcome.reason_data
    assert outcome.reason_data["evaluatedDatapoints"] == [{"timestamp": iso_millis(NOW - 10), "value": 50.0}]
    assert "greater than or equal to the threshold (5.0)" in outcome.reason


@pytest.mark.parametrize("value,text", [(3, "3.0"), (0, "0.0"), (0.5, "0.5"), (99.83333333333333, "99.83333333333333"),
                                        (1e7, "1.0E7"), (12345678.0, "1.2345678E7"), (1.5e-5, "1.5E-5"),
                                        (-2.5e8, "-2.5E8")])
def test_numbers_print_as_java_doubles(value, text):
    assert java_double(value) == text


def test_evaluation_schedule_and_periods():
    assert [evaluation_step(p) for p in (10, 20, 30, 60, 300, 3600)] == [10, 20, 30, 60, 60, 60]
    assert all(valid_alarm_period(p) for p in (10, 20, 30, 60, 120, 3600))
    assert not any(valid_alarm_period(p) for p in (1, 5, 15, 45, 90, 0, -60))


def test_low_sample_count_for_percentiles():
    assert low_sample_count(99, 999) and not low_sample_count(99, 1000)  # 10 / (1 - 0.99)
    assert low_sample_count(10, 99) and not low_sample_count(10, 100)  # 10 / 0.1


BASE = dict(name="a", namespace="N", metric_name="M", statistic="Sum", period=60, evaluation_periods=1,
            threshold=1.0, comparison_operator="GreaterThanThreshold")


@pytest.mark.parametrize("change,fragment", [
    ({"period": 45}, "Period is not supported"),
    ({"period": 10, "evaluation_periods": 8641}, "must not exceed 86400"),
    ({"period": 3600, "evaluation_periods": 169}, "must not exceed 604800"),
    ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "DatapointsToAlarm (3)"),
    ({"evaluation_periods": 0}, "EvaluationPeriods must be at least 1"),
    ({"statistic": None}, "Exactly one of Statistic and ExtendedStatistic"),
    ({"extended_statistic": "p99"}, "Exactly one of Statistic and ExtendedStatistic"),
    ({"statistic": "Median"}, "Statistic is not valid"),
    ({"comparison_operator": "Above"}, "comparisonOperator"),
    ({"treat_missing_data": "zero"}, "TreatMissingData"),
    ({"threshold": None}, "Threshold is required"),
])
def test_put_metric_alarm_validation(change, fragment):
    errors = validate_alarm({**BASE, **change})
    assert errors and any(fragment in message for _, message in errors), errors


def test_valid_alarms_pass_validation():
    assert validate_alarm(BASE) == []
    assert validate_alarm({**BASE, "period": 10, "evaluation_periods": 3, "datapoints_to_alarm": 2,
                           "treat_missing_data": "notBreaching"}) == []
    assert validate_alarm({**BASE, "period": 3600, "evaluation_periods": 168}) == []
