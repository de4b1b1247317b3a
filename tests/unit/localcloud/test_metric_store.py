"""Metric queries over moto's own CloudWatch storage (in process): what CloudWatch answers, where moto differs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from moto.cloudwatch.models import CloudWatchBackend

from sfn_callback.localcloud import metric_store
from sfn_callback.localcloud.metric_store import QueryError

T0 = datetime(2027, 1, 15, 8, 0, 0)  # naive UTC, as moto stores it
NOW = metric_store.to_epoch(T0 + timedelta(hours=1))


def backend_with(*data: tuple) -> CloudWatchBackend:
    """``(namespace, name, dims, value, seconds after T0[, unit])`` each."""
    backend = CloudWatchBackend("us-east-1", "000000000000")
    for namespace, name, dims, value, offset, *unit in data:
        backend.put_metric_data(namespace, [{
            "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            "Timestamp": T0 + timedelta(seconds=offset), "Unit": unit[0] if unit else None,
            **({"Values": value} if isinstance(value, list) else {"Value": value})}])
    return backend


def stats(backend, name="Calls", dims=None, start=0, end=600, period=60, statistics=("Sum",), extended=(),
          unit=None, namespace="App"):
    return metric_store.get_metric_statistics(
        backend, namespace, name, T0 + timedelta(seconds=start), T0 + timedelta(seconds=end), period,
        list(statistics), list(extended), [{"Name": k, "Value": v} for k, v in (dims or {}).items()], unit, now=NOW)


def test_statistics_match_the_exact_dimension_set():
    backend = backend_with(("App", "Calls", {"fn": "a"}, 1, 5), ("App", "Calls", {"fn": "a", "v": "2"}, 10, 6),
                           ("App", "Calls", {}, 100, 7))
    assert [p["Sum"] for p in stats(backend, dims={"fn": "a"})] == [1.0]  # moto also adds the {fn, v} datum
    assert [p["Sum"] for p in stats(backend, dims={"v": "2", "fn": "a"})] == [10.0]
    assert [p["Sum"] for p in stats(backend)] == [100.0]  # no dimensions: only the dimensionless metric
    assert stats(backend, dims={"fn": "b"}) == []


def test_periods_start_at_the_rounded_start_and_missing_periods_have_no_datapoint():
    backend = backend_with(("App", "Calls", {}, 1, 5), ("App", "Calls", {}, 2, 75), ("App", "Calls", {}, 4, 80),
                           ("App", "Calls", {}, 8, 250))
    points = stats(backend, start=30, end=300, statistics=("Sum", "SampleCount", "Average", "Minimum", "Maximum"))
    # The start 08:00:30 is rounded down to 08:00:00; 08:03 has no data, so no datapoint.
    assert [p["Timestamp"] for p in points] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)]
    assert points[1] == {"Timestamp": T0 + timedelta(minutes=1), "Unit": "None", "Sum": 6.0, "SampleCount": 2.0,
                         "Average": 3.0, "Minimum": 2.0, "Maximum": 4.0}
    ten = stats(backend, start=0, end=90, period=10)
    assert [(p["Timestamp"], p["Sum"]) for p in ten] == [(T0, 1.0), (T0 + timedelta(seconds=70), 2.0),
                                                         (T0 + timedelta(seconds=80), 4.0)]


def test_percentiles_use_raw_values_and_units_stay_apart():
    backend = backend_with(("App", "Latency", {}, list(range(1, 101)), 10, "Milliseconds"),
                           ("App", "Latency", {}, 5000, 20, "Seconds"))
    per_unit = stats(backend, name="Latency", extended=("p50", "p99", "p99.9"), statistics=())
    assert [(p["Unit"], p["ExtendedStatistics"]) for p in per_unit] == [
        ("Milliseconds", {"p50": 50.0, "p99": 99.0, "p99.9": 100.0}), ("Seconds", {"p50": 5000.0, "p99": 5000.0,
                                                                               "p99.9": 5000.0})]
    only_ms = stats(backend, name="Latency", statistics=("Maximum",), unit="Milliseconds")
    assert [(p["Unit"], p["Maximum"]) for p in only_ms] == [("Milliseconds", 100.0)]
    assert stats(backend, name="Latency", statistics=("Maximum",), unit="Bytes") == []


def test_statistic_sets_have_no_percentiles():
    backend = CloudWatchBackend("us-east-1", "000000000000")
    backend.put_metric_data("App", [{"MetricName": "Calls", "Timestamp": T0 + timedelta(seconds=5),
                                     "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}}])
    point = stats(backend, statistics=("Average", "SampleCount"))[0]
    assert point["Average"] == 2.5 and point["SampleCount"] == 4.0
    (percentile,) = stats(backend, statistics=(), extended=("p50",))
    assert "ExtendedStatistics" not in percentile


@pytest.mark.parametrize("kwargs,code", [
    ({"period": 45}, "InvalidParameterValue"),
    ({"statistics": ("Sum",), "extended": ("p99",)}, "InvalidParameterCombination"),
    ({"statistics": ()}, "InvalidParameterCombination"),
    ({"statistics": ("Median",)}, "InvalidParameterValue"),
    ({"extended": ("p101",), "statistics": ()}, "InvalidParameterValue"),
    ({"period": 1, "end": 1441}, "InvalidParameterCombination"),
    ({"start": 600, "end": 0}, "InvalidParameterValue"),
])
def test_invalid_requests_are_refused_as_aws_refuses_them(kwargs, code):
    with pytest.raises(QueryError) as raised:
        stats(backend_with(), **kwargs)
    assert raised.value.code == code


def test_list_metrics_lists_each_metric_once_and_filters_by_dimension_name():
    backend = backend_with(("App", "Calls", {}, 1, 5), ("App", "Calls", {}, 2, 6),
                           ("App", "Calls", {"fn": "a", "v": "1"}, 1, 7), ("App", "Calls", {"v": "1", "fn": "a"}, 1, 8),
                           ("Other", "Calls", {"fn": "b"}, 1, 9))
    listed = metric_store.list_metrics(backend, "App", None, None, now=NOW)
    assert listed == [{"Namespace": "App", "MetricName": "Calls", "Dimensions": []},
                      {"Namespace": "App", "MetricName": "Calls",
                       "Dimensions": [{"Name": "fn", "Value": "a"}, {"Name": "v", "Value": "1"}]}]
    assert len(metric_store.list_metrics(backend, None, "Calls", [{"Name": "fn"}], now=NOW)) == 2
    assert metric_store.list_metrics(backend, None, None, [{"Name": "fn", "Value": "b"}], now=NOW)[0][
        "Namespace"] == "Other"
    assert metric_store.list_metrics(backend, None, None, None, recently_active="PT3H",
                                     now=NOW + 4 * 3600) == []


def test_get_metric_data_respects_namespace_order_return_data_and_math():
    backend = backend_with(("App", "Errors", {"fn": "a"}, 1, 5), ("App", "Calls", {"fn": "a"}, 10, 6),
                           ("App", "Calls", {"fn": "a"}, 10, 65), ("Other", "Errors", {"fn": "a"}, 99, 5))
    metric = {"Dimensions": [{"Name": "fn", "Value": "a"}], "Namespace": "App"}
    results = metric_store.get_metric_data(backend, [
        {"Id": "errors", "MetricStat": {"Metric": {**metric, "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"},
         "ReturnData": False},
        {"Id": "calls", "MetricStat": {"Metric": {**metric, "MetricName": "Calls"}, "Period": 60, "Stat": "Sum"}},
        {"Id": "rate", "Expression": "100 * errors / calls", "Label": "Error rate"},
    ], T0, T0 + timedelta(minutes=3), now=NOW)
    assert [r["Id"] for r in results] == ["calls", "rate"]
    calls, rate = results
    assert calls["Label"] == "Calls" and calls["StatusCode"] == "Complete"
    assert calls["Timestamps"] == [T0 + timedelta(minutes=1), T0]  # TimestampDescending by default
    assert calls["Values"] == [10.0, 10.0]
    assert rate["Label"] == "Error rate" and rate["Values"] == [0.0, 10.0]  # Other/Errors is not App/Errors
    ascending = metric_store.get_metric_data(backend, [
        {"Id": "calls", "MetricStat": {"Metric": {**metric, "MetricName": "Calls"}, "Period": 60, "Stat": "Sum"}}],
        T0, T0 + timedelta(minutes=3), scan_by="TimestampAscending", now=NOW)
    assert ascending[0]["Timestamps"] == [T0, T0 + timedelta(minutes=1)]


@pytest.mark.parametrize("queries,fragment", [
    ([{"Id": "M1", "Expression": "TIME_SERIES(1)"}], "must start with a lowercase letter"),
    ([{"Id": "a", "Expression": "TIME_SERIES(1)"}, {"Id": "a", "Expression": "TIME_SERIES(2)"}], "not unique"),
    ([{"Id": "e1", "Expression": "m9 * 2"}], "Unknown metric or expression id: m9"),
    ([{"Id": "e1", "Expression": "e1 + 1"}], "refers to itself"),
    ([{"Id": "a"}], "exactly one of MetricStat and Expression"),
])
def test_get_metric_data_errors(queries, fragment):
    with pytest.raises(QueryError) as raised:
        metric_store.get_metric_data(backend_with(), queries, T0, T0 + timedelta(minutes=3), now=NOW)
    assert raised.value.code == "ValidationError" and fragment in raised.value.message


def test_round_start_follows_cloudwatch():
    now = metric_store.to_epoch(datetime(2027, 3, 1, tzinfo=UTC))
    assert metric_store.round_start(now - 3600 - 34, now) == now - 3600 - 60
    assert metric_store.round_start(now - 20 * 86400 - 170, now) == now - 20 * 86400 - 300
    assert metric_store.round_start(now - 70 * 86400 - 1800, now) == now - 70 * 86400 - 3600


def test_trim_drops_old_data_and_queries_follow():
    backend = backend_with(("App", "Calls", {}, 1, 5), ("App", "Calls", {}, 2, 500))
    assert [p["Sum"] for p in stats(backend, end=600, period=600)] == [3.0]
    assert metric_store.trim(backend, metric_store.to_epoch(T0 + timedelta(seconds=100))) == 1
    assert [p["Sum"] for p in stats(backend, end=600, period=600)] == [2.0]
    # Data added after a trim, even more than was dropped, is indexed (the index is rebuilt, not extended).
    backend.put_metric_data("App", [{"MetricName": "Calls", "Value": 4, "Timestamp": T0 + timedelta(seconds=510)}])
    assert metric_store.trim(backend, metric_store.to_epoch(T0 + timedelta(seconds=505))) == 1
    for offset in (520, 530):
        backend.put_metric_data("App", [{"MetricName": "Calls", "Value": 8, "Timestamp": T0 + timedelta(seconds=offset)}])
    assert [p["Sum"] for p in stats(backend, end=600, period=600)] == [20.0]
