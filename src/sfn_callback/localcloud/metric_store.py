"""CloudWatch metric queries for the local cloud, computed as CloudWatch computes them.

moto's CloudWatch backend stores metric data (a list of datums per account and region) but its queries
differ from AWS in ways that matter to alarms and dashboards: ``GetMetricStatistics`` matches any metric
whose dimensions *include* the requested ones (AWS matches the exact dimension set) and starts its periods
at the first datum, ``GetMetricData`` drops the namespace when dimensions are given and compares dimension
lists through a broken ordering, ``ListMetrics`` lists a dimensionless metric once per datum, percentiles
(``p99``) are not computed, metric math is limited to returning another query's id, and
``DescribeAlarmHistory`` does not exist. This module keeps moto's storage and replaces the queries:

* a metric is its namespace, name and exact set of dimensions (order does not matter);
* periods are ``1, 5, 10, 20, 30`` seconds or a multiple of 60; the start time is rounded down to the
  minute (5 minutes for starts 15-63 days ago, the hour beyond), and data points are the periods from that
  start, each ``[start, start + period)``, holding the statistics of the values whose timestamp falls in it;
  a period without data has no data point (missing data is never a zero);
* statistics: ``SampleCount``, ``Sum``, ``Average``, ``Minimum``, ``Maximum`` and percentiles ``pNN`` /
  ``pNN.NN`` (nearest rank over the raw values; not available for periods holding statistic sets);
* ``Unit``: given, only data published with that unit; omitted, ``GetMetricStatistics`` answers one data
  point per unit per period (CloudWatch does not convert units) and ``GetMetricData`` aggregates them;
* ``GetMetricData``: ``MetricStat`` and metric math (:mod:`metric_math`) queries, ``ReturnData``, ``Label``,
  ``ScanBy`` (``TimestampDescending`` by default, as on AWS);
* ``GetMetricStatistics`` returns at most 1,440 data points, as on AWS.

Unlike AWS, the local cloud keeps every datum's own timestamp whatever its ``StorageResolution`` (AWS
aggregates standard-resolution data to the minute), so a 10-second period sees data as it arrives.
Raw data older than the retention (24 h by default) is dropped by :func:`trim`.

Everything else (``PutMetricData`` validation, dashboards, alarms' storage) stays moto's. An index per backend
holds each metric's datums in time order, so a query costs the data in its window, not all data (100 alarms
over 100,000 data points: about 2 ms per alarm evaluation on a loaded 2-core machine).
"""

from __future__ import annotations

import bisect
import calendar
import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DimensionKey = tuple[tuple[str, str], ...]

MAX_STATISTICS_DATAPOINTS = 1440
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100(?:\.0+)?)$")


class QueryError(ValueError):
    """A request CloudWatch rejects: ``code`` is the AWS error code (``InvalidParameterValue``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- time --------------------------------------------------------------------------------------------
def to_epoch(value: Any) -> float:
    """Seconds since the epoch of a datetime (naive means UTC, as moto stores it) or a number."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
    raise TypeError(f"not a time: {value!r}")


def from_epoch(seconds: float) -> datetime:
    """A naive UTC datetime, as moto's serializers expect."""
    return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)


def datum_time(datum: Any) -> float:
    cached = getattr(datum, "_sfn_ts", None)
    if cached is None:
        cached = to_epoch(datum.timestamp)
        try:
            datum._sfn_ts = cached
        except AttributeError:  # a datum type without a __dict__
            pass
    return cached


def round_start(start: float, now: float) -> float:
    """CloudWatch's rounding of a query's start: minute, 5 minutes (15-63 days ago) or hour (older)."""
    age = now - start
    if age > 63 * 86400:
        step = 3600
    elif age > 15 * 86400:
        step = 300
    else:
        step = 60
    return math.floor(start / step) * step


def valid_period(period: Any) -> bool:
    return isinstance(period, int) and not isinstance(period, bool) and (
        period in (1, 5, 10, 20, 30) or (period > 0 and period % 60 == 0))


def check_period(period: Any, parameter: str = "Period") -> int:
    try:
        value = int(period)
    except (TypeError, ValueError):
        raise QueryError("InvalidParameterValue", f"The parameter {parameter} is required.") from None
    if not valid_period(value):
        raise QueryError("InvalidParameterValue",
                         f"The parameter {parameter} must be 1, 5, 10, 20, 30 or a multiple of 60, not {value}.")
    return value


# -- statistics --------------------------------------------------------------------------------------
@dataclass
class Aggregate:
    """The statistics of one period: raw values and statistic sets (``StatisticValues``) together."""

    values: list[float] = field(default_factory=list)
    sets: list[tuple[float, float, float, float]] = field(default_factory=list)  # (count, sum, min, max)
    unit: str | None = None

    def add(self, datum: Any) -> None:
        if hasattr(datum, "value"):
            self.values.append(float(datum.value))
        else:
            self.sets.append((float(datum.sample_count), float(datum.sum), float(datum.min), float(datum.max)))
        if datum.unit:
            self.unit = datum.unit

    @property
    def empty(self) -> bool:
        return not self.values and not self.sets

    @property
    def sample_count(self) -> float:
        return float(len(self.values)) + sum(s[0] for s in self.sets)

    def statistic(self, stat: str) -> float | None:
        """The value of ``stat`` for this period, ``None`` when it cannot be computed."""
        if self.empty:
            return None
        if stat == "SampleCount":
            return self.sample_count
        if stat == "Sum":
            return math.fsum(self.values) + math.fsum(s[1] for s in self.sets)
        if stat == "Average":
            count = self.sample_count
            return (math.fsum(self.values) + math.fsum(s[1] for s in self.sets)) / count if count else None
        if stat == "Minimum":
            return min([*self.values, *(s[2] for s in self.sets)])
        if stat == "Maximum":
            return max([*self.values, *(s[3] for s in self.sets)])
        percentile = parse_percentile(stat)
        if percentile is not None:
            if self.sets or not self.values:
                return None  # statistic sets carry no distribution
            return nearest_rank(sorted(self.values), percentile)
        raise QueryError("InvalidParameterValue", f"The statistic {stat} is not supported by the local cloud.")


def parse_percentile(stat: str) -> float | None:
    match = _PERCENTILE.match(stat or "")
    return float(match.group(1)) if match else None


def is_statistic(stat: str) -> bool:
    return stat in BASIC_STATISTICS or parse_percentile(stat) is not None


def nearest_rank(ordered: list[float], percentile: float) -> float:
    """The smallest value with at least ``percentile`` percent of the values at or below it."""
    if percentile <= 0:
        return ordered[0]
    rank = math.ceil(percentile / 100.0 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def dimension_key(dimensions: Iterable[Any]) -> DimensionKey:
    """A metric's identity within its name: its dimensions as sorted ``(name, value)`` pairs."""
    pairs = []
    for dimension in dimensions or ():
        if isinstance(dimension, dict):
            pairs.append((str(dimension.get("Name")), str(dimension.get("Value"))))
        else:
            pairs.append((str(dimension.name), str(dimension.value)))
    return tuple(sorted(pairs))


# -- the index ---------------------------------------------------------------------------------------
class _Series:
    """The datums of one metric, kept in time order for window queries (EMF may backdate: sorted lazily)."""

    __slots__ = ("times", "datums", "ordered")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.datums: list[Any] = []
        self.ordered = True

    def add(self, at: float, datum: Any) -> None:
        if self.times and at < self.times[-1]:
            self.ordered = False
        self.times.append(at)
        self.datums.append(datum)

    def window(self, start: float, end: float) -> list[Any]:
        if not self.ordered:
            pairs = sorted(zip(self.times, self.datums), key=lambda pair: pair[0])
            self.times, self.datums = [t for t, _ in pairs], [d for _, d in pairs]
            self.ordered = True
        return self.datums[bisect.bisect_left(self.times, start):bisect.bisect_left(self.times, end)]


class MetricIndex:
    """Datums of one backend by metric (namespace, name, dimensions), extended incrementally from moto's list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source_id = 0
        self._generation = 0  # bumped by trim(): the list was rewritten, index it again
        self._seen = 0
        self._series: dict[tuple[str, str, DimensionKey], _Series] = {}

    def refresh(self, data: list[Any], generation: int = 0) -> None:
        with self._lock:
            if id(data) != self._source_id or generation != self._generation or len(data) < self._seen:
                self._source_id, self._generation, self._seen = id(data), generation, 0
                self._series.clear()
            end = len(data)
            for datum in data[self._seen:end]:
                metric = (datum.namespace, datum.name, dimension_key(datum.dimensions))
                found = self._series.get(metric)
                if found is None:
                    found = self._series[metric] = _Series()
                found.add(datum_time(datum), datum)
            self._seen = end

    def window(self, namespace: str, name: str, dims: DimensionKey, start: float = -math.inf,
               end: float = math.inf) -> list[Any]:
        """The metric's datums with a timestamp in ``[start, end)``, oldest first."""
        with self._lock:
            found = self._series.get((namespace, name, dims))
            return found.window(start, end) if found is not None else []

    def metrics(self) -> dict[tuple[str, str, DimensionKey], float]:
        """Every metric with the time of its newest datum."""
        with self._lock:
            return {metric: max(series.times) for metric, series in self._series.items() if series.times}


_indexes: dict[int, MetricIndex] = {}
_indexes_lock = threading.Lock()


def index_for(backend: Any) -> MetricIndex:
    with _indexes_lock:
        index = _indexes.get(id(backend))
        if index is None:
            index = _indexes[id(backend)] = MetricIndex()
    index.refresh(backend.metric_data, getattr(backend, "_sfn_trims", 0))
    return index


def trim(backend: Any, older_than: float) -> int:
    """Drop datums whose timestamp is before ``older_than``; returns how many. Safe against appends."""
    data = backend.metric_data
    end = len(data)
    kept = [d for d in data[:end] if datum_time(d) >= older_than]
    dropped = end - len(kept)
    if dropped:
        data[:end] = kept  # one slice assignment: datums appended meanwhile (beyond ``end``) stay
        backend._sfn_trims = getattr(backend, "_sfn_trims", 0) + 1
    return dropped


# -- queries -----------------------------------------------------------------------------------------
def series(backend: Any, namespace: str, name: str, dims: DimensionKey, unit: str | None = None,
           start: float = -math.inf, end: float = math.inf) -> list[Any]:
    """The datums of one metric (exact dimension set) in ``[start, end)``, optionally of one unit."""
    found = index_for(backend).window(namespace, name, dims, start, end)
    if unit:
        found = [d for d in found if (d.unit or "None") == unit]
    return found


def publish(backend: Any, namespace: str, name: str, dimensions: Iterable[tuple[str, str]], values: Iterable[float],
            unit: str | None, timestamp: float) -> int:
    """Store values of one metric as moto's datums (one per value, as ``PutMetricData`` ``Values`` does)."""
    from moto.cloudwatch.models import MetricDatum

    dims = [{"Name": k, "Value": v} for k, v in dimensions]
    at = from_epoch(timestamp)
    unit = None if unit in (None, "None") else unit
    count = 0
    for value in values:
        backend.metric_data.append(MetricDatum(namespace, name, float(value), dims, at, unit))
        count += 1
    return count


def buckets(datums: Iterable[Any], start: float, end: float, period: int) -> dict[int, Aggregate]:
    """Aggregates of ``[start, end)`` by period index (``start + i * period``); periods without data absent."""
    found: dict[int, Aggregate] = {}
    for datum in datums:
        at = datum_time(datum)
        if start <= at < end:
            found.setdefault(int((at - start) // period), Aggregate()).add(datum)
    return found


def metric_datapoints(backend: Any, namespace: str, name: str, dims: DimensionKey, stat: str, start: float,
                      end: float, period: int, unit: str | None = None) -> list[tuple[float, float, Aggregate]]:
    """``(period start, value, aggregate)`` for each period of ``[start, end)`` that has a value."""
    result = []
    for i, agg in sorted(buckets(series(backend, namespace, name, dims, unit, start, end), start, end,
                                 period).items()):
        value = agg.statistic(stat)
        if value is not None:
            result.append((start + i * period, value, agg))
    return result


def get_metric_statistics(backend: Any, namespace: str, metric_name: str, start_time: Any, end_time: Any,
                          period: Any, statistics: list[str] | None, extended_statistics: list[str] | None,
                          dimensions: list[dict[str, str]] | None, unit: str | None,
                          now: float | None = None) -> list[dict[str, Any]]:
    if not namespace or not metric_name:
        raise QueryError("MissingParameter", "The parameters Namespace and MetricName are required.")
    statistics, extended = list(statistics or []), list(extended_statistics or [])
    if bool(statistics) == bool(extended):
        raise QueryError("InvalidParameterCombination",
                         "Must specify either Statistics or ExtendedStatistics, but not both.")
    for stat in statistics:
        if stat not in BASIC_STATISTICS:
            raise QueryError("InvalidParameterValue", f"The value {stat} for parameter Statistics is not valid.")
    for stat in extended:
        if parse_percentile(stat) is None:
            raise QueryError("InvalidParameterValue",
                             f"The value {stat} for parameter ExtendedStatistics is not supported.")
    period = check_period(period)
    now = now if now is not None else datetime.now(UTC).timestamp()
    start, end = round_start(to_epoch(start_time), now), to_epoch(end_time)
    if start >= end:
        raise QueryError("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
    requested = math.ceil((end - start) / period)
    if requested > MAX_STATISTICS_DATAPOINTS:
        raise QueryError("InvalidParameterCombination",
                         f"You have requested up to {requested} datapoints, which exceeds the limit of "
                         f"{MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by increasing "
                         "Period, or decreasing the time range.")
    datums = series(backend, namespace, metric_name, dimension_key(dimensions or []), unit, start, end)
    by_unit: dict[str, list[Any]] = defaultdict(list)
    for datum in datums:
        by_unit[datum.unit or "None"].append(datum)
    points = []
    for unit_name, unit_datums in sorted(by_unit.items()):
        for i, agg in sorted(buckets(unit_datums, start, end, period).items()):
            point: dict[str, Any] = {"Timestamp": from_epoch(start + i * period), "Unit": unit_name}
            for stat in statistics:
                value = agg.statistic(stat)
                if value is not None:
                    point[stat] = value
            if extended:
                values = {stat: v for stat in extended if (v := agg.statistic(stat)) is not None}
                if values:
                    point["ExtendedStatistics"] = values
            points.append(point)
    return points


def list_metrics(backend: Any, namespace: str | None, metric_name: str | None,
                 dimensions: list[dict[str, Any]] | None, recently_active: str | None = None,
                 now: float | None = None) -> list[dict[str, Any]]:
    """Each metric once; ``Dimensions`` filters match a metric holding those names (and values, when given)."""
    now = now if now is not None else datetime.now(UTC).timestamp()
    horizon = now - 3 * 3600 if recently_active == "PT3H" else now - 14 * 86400
    wanted = [(str(d.get("Name")), d.get("Value")) for d in dimensions or []]
    found = []
    for (ns, name, dims), last in sorted(index_for(backend).metrics().items()):
        if (namespace and ns != namespace) or (metric_name and name != metric_name) or last < horizon:
            continue
        held = dict(dims)
        if any(key not in held or (value is not None and held[key] != str(value)) for key, value in wanted):
            continue
        found.append({"Namespace": ns, "MetricName": name,
                      "Dimensions": [{"Name": k, "Value": v} for k, v in dims]})
    return found


_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _query_period(query: dict[str, Any]) -> int | None:
    if "MetricStat" in query:
        return check_period(query["MetricStat"].get("Period"), "MetricStat.Period")
    if query.get("Period") is not None:
        return check_period(query["Period"])
    return None


def evaluate_queries(backend: Any, queries: list[dict[str, Any]], start: float,
                     end: float) -> dict[str, list[Any]]:
    """Every query's time series over ``[start, end)``: ``id -> [TimeSeries]`` (one, or an array)."""
    from sfn_callback.localcloud.metric_math import Context, MathError, TimeSeries, evaluate_series

    by_id: dict[str, dict[str, Any]] = {}
    for n, query in enumerate(queries, start=1):
        query_id = query.get("Id") or ""
        if not _QUERY_ID.match(query_id):
            raise QueryError("ValidationError", f"The value {query_id!r} for parameter MetricDataQueries.member."
                             f"{n}.Id is invalid: it must start with a lowercase letter and hold only letters, "
                             "digits and underscores.")
        if query_id in by_id:
            raise QueryError("ValidationError", f"The values for parameter id in MetricDataQueries are not "
                             f"unique: {query_id} appears twice.")
        if ("MetricStat" in query) == ("Expression" in query):
            raise QueryError("ValidationError", f"MetricDataQueries.member.{n} must hold exactly one of "
                             "MetricStat and Expression.")
        by_id[query_id] = query
    metric_ids = [i for i, q in by_id.items() if "MetricStat" in q]
    default_period = next((_query_period(by_id[i]) for i in metric_ids), None)
    results: dict[str, list[Any]] = {}
    evaluating: set[str] = set()

    def grid(period: int) -> list[float]:
        return [start + i * period for i in range(max(0, math.ceil((end - start) / period)))]

    def resolve(query_id: str) -> Any:
        if query_id in results:
            found = results[query_id]
            return found[0] if "MetricStat" in by_id[query_id] else (found if len(found) != 1 else found[0])
        query = by_id.get(query_id)
        if query is None:
            raise MathError(f"Unknown metric or expression id: {query_id}")
        if query_id in evaluating:
            raise MathError(f"The expression {query_id} refers to itself.")
        evaluating.add(query_id)
        try:
            if "MetricStat" in query:
                stat = query["MetricStat"]
                metric = stat.get("Metric") or {}
                period = _query_period(query) or 60
                stat_name = stat.get("Stat") or ""
                if not is_statistic(stat_name):
                    raise QueryError("ValidationError", f"The statistic {stat_name!r} of {query_id} is not "
                                     "supported: use SampleCount, Average, Sum, Minimum, Maximum or pNN.")
                points = metric_datapoints(backend, metric.get("Namespace") or "", metric.get("MetricName") or "",
                                           dimension_key(metric.get("Dimensions") or []), stat_name, start, end,
                                           period, stat.get("Unit"))
                label = query.get("Label") or metric.get("MetricName") or query_id
                results[query_id] = [TimeSeries({t: v for t, v, _ in points}, label=label, id=query_id,
                                                period=period)]
            else:
                period = _query_period(query) or default_period or 60
                context = Context(grid=grid(period), resolve=resolve, metric_ids=metric_ids)
                try:
                    found = evaluate_series(query["Expression"], context)
                except MathError as exc:
                    raise QueryError("ValidationError", f"Error in expression {query_id}: {exc}") from None
                label = query.get("Label")
                if label is None:  # one series: the expression's id; an array: each member's own label
                    labels = [query_id] if len(found) == 1 else [ts.label or query_id for ts in found]
                else:
                    labels = [label] * len(found)
                results[query_id] = [TimeSeries(ts.points, id=query_id, period=ts.period or period, label=text)
                                     for ts, text in zip(found, labels)]
        finally:
            evaluating.discard(query_id)
        return resolve(query_id)

    for query_id in by_id:
        try:
            resolve(query_id)
        except MathError as exc:
            raise QueryError("ValidationError", f"Error in expression {query_id}: {exc}") from None
    return results


def get_metric_data(backend: Any, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                    scan_by: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    if not queries:
        raise QueryError("ValidationError", "The parameter MetricDataQueries is required.")
    if len(queries) > 500:
        raise QueryError("ValidationError", "MetricDataQueries can hold at most 500 queries.")
    now = now if now is not None else datetime.now(UTC).timestamp()
    start, end = round_start(to_epoch(start_time), now), to_epoch(end_time)
    if start >= end:
        raise QueryError("ValidationError", "The parameter EndTime must be greater than StartTime.")
    descending = (scan_by or "TimestampDescending") == "TimestampDescending"
    evaluated = evaluate_queries(backend, queries, start, end)
    results = []
    for query in queries:
        if not query.get("ReturnData", True):
            continue
        for ts in evaluated[query["Id"]]:
            items = sorted(ts.points.items(), reverse=descending)
            results.append({"Id": query["Id"], "Label": ts.label, "Timestamps": [from_epoch(t) for t, _ in items],
                            "Values": [v for _, v in items], "StatusCode": "Complete", "Messages": []})
    return results
