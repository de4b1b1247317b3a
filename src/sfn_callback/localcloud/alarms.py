"""CloudWatch metric alarms evaluated on the local cloud (moto stores alarms and never evaluates them).

The rules are the CloudWatch user guide's ("Using Amazon CloudWatch alarms", "Configuring how CloudWatch
alarms treat missing data"):

* **When**: an alarm with a period of 10, 20 or 30 s is evaluated every period; any other alarm every minute,
  on the minute. Each evaluation looks at the periods ending at that moment (``[end - period, end)`` is the
  newest), a little after it (``SFN_CALLBACK_ALARM_EVALUATION_DELAY``, 1 s by default) so data written at the
  end of a period counts.
* **Evaluation range**: CloudWatch retrieves more periods than ``EvaluationPeriods`` (N); here N + 2, as in
  the guide's example (5 periods for N = 3).
* **M out of N** (``DatapointsToAlarm`` = M, N when unset): with at least N real data points in the range,
  the newest N are evaluated; the alarm is ALARM when at least M of them breach, otherwise OK. With fewer, the
  missing ones are filled as few times as possible (N minus the real ones) by ``TreatMissingData``:
  ``breaching`` and ``notBreaching`` fill them as such; ``missing`` and ``ignore`` do not count them, so the
  alarm is ALARM with M breaching points, OK with at least one real non-breaching point, and otherwise
  INSUFFICIENT_DATA (``missing``) or unchanged (``ignore``). This reproduces both tables of the guide.
* **Percentiles**: with ``EvaluateLowSampleCountPercentile: ignore`` the state is kept while a period holds
  fewer than 10/(1-p) samples (10/p below the median).
* **State changes** carry CloudWatch's ``StateReason`` text ("Threshold Crossed: 2 out of the last 3
  datapoints [...] were greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition).",
  the older "3 datapoints [...] were ..." form when ``DatapointsToAlarm`` is unset, "no datapoints were
  received for 2 periods and 2 missing datapoints were treated as [Breaching].", "Insufficient Data: 1
  datapoint was unknown.") and ``StateReasonData`` JSON (``version``, ``queryDate``, ``startDate``,
  ``statistic``, ``period``, ``recentDatapoints``, ``threshold``, ``evaluatedDatapoints``); only a change of
  state value is recorded, as a ``StateUpdate`` history item with AWS's ``HistoryData``.
* **Actions** run on a change (``AlarmActions`` on ALARM, ``OKActions``, ``InsufficientDataActions``) while
  actions are enabled: an SNS topic ARN gets AWS's JSON alarm notification (``AlarmName``,
  ``AlarmDescription``, ``NewStateValue``, ``NewStateReason``, ``StateChangeTime``, ``Region``, ``AlarmArn``,
  ``OldStateValue``, ``Trigger``, ...) with the subject ``ALARM: "name" in US East (N. Virginia)``; each
  action is an ``Action`` history item, succeeded or failed. Other action kinds are recorded as failed.
* ``PutMetricAlarm`` is validated as AWS validates it (periods 10, 20, 30 or a multiple of 60, evaluation
  periods times period at most one day (seven for periods of an hour or more), ``DatapointsToAlarm`` at
  most ``EvaluationPeriods``, one of ``Statistic``/``ExtendedStatistic``, enums), a new alarm starts in
  INSUFFICIENT_DATA ("Unchecked: Initial alarm creation") and an update keeps the state, as on AWS.
  ``SetAlarmState`` changes the state with its history and actions; the next evaluation may change it back.
* Not evaluated: composite alarms and anomaly-detection thresholds (stored, left as they are).

:func:`evaluate` is the pure decision; :class:`AlarmEvaluator` runs it against moto's backends.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("sfn_callback.localcloud.alarms")

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
ANOMALY_COMPARISONS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                       "GreaterThanUpperThreshold")
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
HISTORY_SECONDS = 30 * 86400


# -- formatting as CloudWatch does ----------------------------------------------------------------------
def java_double(value: float) -> str:
    """A double as Java prints it (``3.0``, ``0.5``, ``1.0E7``): CloudWatch's reason text uses that form."""
    from decimal import Decimal

    value = float(value)
    if value == 0:
        return "0.0"
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) - 1 + int(exponent)
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


def iso_millis(epoch: float) -> str:
    """``2024-10-26T18:59:00.000+0000``: the timestamp form of alarm notifications and reason data."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def short_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%d/%m/%y %H:%M:%S")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


# -- the pure decision ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Datapoint:
    timestamp: float  # start of the period
    value: float | None  # None: no data in that period
    sample_count: float | None = None


@dataclass(frozen=True)
class Rule:
    comparison: str
    threshold: float
    evaluation_periods: int
    period: int
    datapoints_to_alarm: int | None = None
    treat_missing_data: str | None = None
    statistic: str | None = None  # None for metric math
    unit: str | None = None

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def treatment(self) -> str:
        return self.treat_missing_data or "missing"

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][0](value, self.threshold)


@dataclass
class Outcome:
    state: str | None  # None: keep the current state (``ignore`` without enough data)
    reason: str
    reason_data: dict[str, Any] = field(default_factory=dict)


def evaluate(rule: Rule, datapoints: list[Datapoint], now: float) -> Outcome:
    """The state the evaluation range ``datapoints`` (oldest first) calls for, with CloudWatch's reason."""
    n, m = rule.evaluation_periods, rule.m
    real = [d for d in datapoints if d.value is not None]
    missing = [d for d in datapoints if d.value is None]
    if len(real) >= n:
        evaluated, filled = real[-n:], []
    else:
        evaluated, filled = real, missing[max(0, len(missing) - (n - len(real))):]
    # the evaluated points all have a value (real ones); the missing ones are counted by the treatment below
    breaching = [d for d in evaluated if d.value is not None and rule.breaches(d.value)]
    calm = [d for d in evaluated if d.value is not None and not rule.breaches(d.value)]
    data = _reason_data(rule, evaluated, filled, now)
    if not filled:
        state = ALARM if len(breaching) >= m else OK
        return Outcome(state, _crossed(rule, state, evaluated, breaching, calm), data)
    treatment = rule.treatment
    if treatment in ("breaching", "notBreaching"):
        count = len(breaching) + (len(filled) if treatment == "breaching" else 0)
        state = ALARM if count >= m else OK
        label = "Breaching" if treatment == "breaching" else "NonBreaching"
        received = ("no datapoints were received" if not real else
                    f"{_plural(len(evaluated), 'datapoint')} {_was(len(evaluated))} received")
        reason = (f"Threshold Crossed: {received} for {_plural(n, 'period')} and "
                  f"{_plural(len(filled), 'missing datapoint')} {_was(len(filled))} treated as [{label}].")
        return Outcome(state, reason, data)
    if len(breaching) >= m:
        return Outcome(ALARM, _crossed(rule, ALARM, evaluated, breaching, calm), data)
    if calm:
        return Outcome(OK, _crossed(rule, OK, evaluated, breaching, calm), data)
    reason = f"Insufficient Data: {_plural(len(filled), 'datapoint')} {_was(len(filled))} unknown."
    return Outcome(INSUFFICIENT if treatment == "missing" else None, reason, data)


def _listed(points: list[Datapoint]) -> str:
    return ", ".join(f"{java_double(p.value)} ({short_date(p.timestamp)})"  # breaching or calm: all have values
                     for p in sorted(points, key=lambda p: p.timestamp, reverse=True) if p.value is not None)


def _crossed(rule: Rule, state: str, evaluated: list[Datapoint], breaching: list[Datapoint],
             calm: list[Datapoint]) -> str:
    words = COMPARISONS[rule.comparison][1]
    shown = breaching if state == ALARM else calm
    negation = "" if state == ALARM else "not "
    threshold = java_double(rule.threshold)
    if rule.datapoints_to_alarm is None:  # alarms without DatapointsToAlarm keep the older wording
        return (f"Threshold Crossed: {_plural(len(shown), 'datapoint')} [{_listed(shown)}] {_was(len(shown))} "
                f"{negation}{words} the threshold ({threshold}).")
    needed = rule.m if state == ALARM else rule.evaluation_periods - rule.m + 1
    transition = "OK -> ALARM" if state == ALARM else "ALARM -> OK"
    return (f"Threshold Crossed: {len(shown)} out of the last {len(evaluated)} datapoints [{_listed(shown)}] "
            f"{_was(len(shown))} {negation}{words} the threshold ({threshold}) "
            f"(minimum {_plural(needed, 'datapoint')} for {transition} transition).")


def _reason_data(rule: Rule, evaluated: list[Datapoint], filled: list[Datapoint], now: float) -> dict[str, Any]:
    data: dict[str, Any] = {"version": "1.0", "queryDate": iso_millis(now)}
    if evaluated:
        data["startDate"] = iso_millis(min(d.timestamp for d in evaluated))
    if rule.statistic:
        data["statistic"] = rule.statistic
    if rule.unit:
        data["unit"] = rule.unit
    data["period"] = rule.period
    data["recentDatapoints"] = [d.value for d in sorted(evaluated, key=lambda d: d.timestamp)]
    data["threshold"] = rule.threshold
    points = []
    for d in sorted([*evaluated, *filled], key=lambda d: d.timestamp, reverse=True):
        point: dict[str, Any] = {"timestamp": iso_millis(d.timestamp)}
        if d.value is not None:
            if rule.statistic and d.sample_count is not None:
                point["sampleCount"] = d.sample_count
            point["value"] = d.value
        points.append(point)
    data["evaluatedDatapoints"] = points
    return data


def low_sample_count(percentile: float, samples: float) -> bool:
    """Too few samples for a percentile to be meaningful (the guide's 10/(1-p), or 10/p below p50)."""
    p = percentile / 100.0
    needed = 10 / (1 - p) if p >= 0.5 and p < 1 else (10 / p if 0 < p < 0.5 else math.inf)
    return samples < needed


def evaluation_step(period: int) -> int:
    """How often an alarm is evaluated: every period for 10/20/30-s alarms, else every minute."""
    return period if period < 60 else 60


# -- validation of PutMetricAlarm ------------------------------------------------------------------------
def valid_alarm_period(period: Any) -> bool:
    return isinstance(period, int) and not isinstance(period, bool) and (
        period in (10, 20, 30) or (period > 0 and period % 60 == 0))


def validate_alarm(params: dict[str, Any]) -> list[tuple[str, str]]:
    """AWS's checks of a ``PutMetricAlarm``: ``[(error code, message)]``, empty when valid."""
    errors: list[tuple[str, str]] = []

    def err(code: str, message: str) -> None:
        errors.append((code, message))

    name = params.get("name")
    if not name or len(name) > 255:
        err("ValidationError", "AlarmName must be 1 to 255 characters.")
    comparison = params.get("comparison_operator")
    if comparison not in COMPARISONS and comparison not in ANOMALY_COMPARISONS:
        err("ValidationError", f"1 validation error detected: Value '{comparison}' at 'comparisonOperator' failed "
                               "to satisfy constraint: Member must satisfy enum value set: "
                               f"[{', '.join([*COMPARISONS, *ANOMALY_COMPARISONS])}]")
    treatment = params.get("treat_missing_data")
    if treatment is not None and treatment not in TREATMENTS:
        err("ValidationError", f"Option {treatment} is not supported. Supported options for parameter "
                               "TreatMissingData are missing, ignore, breaching and notBreaching.")
    n = params.get("evaluation_periods")
    if not isinstance(n, int) or n < 1:
        err("ValidationError", "EvaluationPeriods must be at least 1.")
        n = None
    m = params.get("datapoints_to_alarm")
    if m is not None and (not isinstance(m, int) or m < 1 or (n is not None and m > n)):
        err("ValidationError", f"DatapointsToAlarm ({m}) must be at least 1 and at most EvaluationPeriods ({n}).")
    queries = params.get("metric_data_queries") or []
    single = any(params.get(key) for key in ("metric_name", "namespace", "statistic", "extended_statistic"))
    if queries and single:
        err("ValidationError", "Metrics cannot be combined with MetricName, Namespace, Statistic or "
                               "ExtendedStatistic.")
    periods: list[int] = []
    if queries:
        returned = [q for q in queries if _truthy(getattr(q, "return_data", None), default=True)]
        if len(returned) != 1:
            err("ValidationError", "Metrics must hold exactly one query with ReturnData true, the alarm's metric.")
        for q in queries:
            if q.metric_stat is not None:
                periods.append(_int(q.metric_stat.period))
            elif q.expression is None:
                err("ValidationError", f"Metrics member {q.id} must hold MetricStat or Expression.")
    else:
        if not params.get("metric_name") or not params.get("namespace"):
            err("ValidationError", "MetricName and Namespace are required unless Metrics is given.")
        if bool(params.get("statistic")) == bool(params.get("extended_statistic")):
            err("InvalidParameterCombination", "Exactly one of Statistic and ExtendedStatistic must be given.")
        if params.get("statistic") and params["statistic"] not in ("SampleCount", "Average", "Sum", "Minimum",
                                                                    "Maximum"):
            err("ValidationError", f"The value {params['statistic']} for parameter Statistic is not valid.")
        periods.append(_int(params.get("period")))
    for period in periods:
        if not valid_alarm_period(period):
            err("ValidationError", f"The value {period} for parameter Period is not supported: valid values are "
                                   "10, 20, 30 and any multiple of 60.")
        elif n is not None:
            limit = 7 * 86400 if period >= 3600 else 86400
            if period * n > limit:
                err("ValidationError", f"EvaluationPeriods ({n}) times Period ({period}) must not exceed {limit} "
                                       "seconds.")
    if params.get("threshold") is None and not params.get("threshold_metric_id"):
        err("ValidationError", "Threshold is required.")
    return errors


def _truthy(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


# -- the evaluator against moto -------------------------------------------------------------------------
Publish = Callable[[str, str, str, str], str]  # (topic arn, message, subject, alarm account) -> message id


@dataclass
class AlarmStats:
    """Counts for ``/health`` (updated by the evaluator and by ``SetAlarmState``; approximate under races)."""

    evaluations: int = 0
    transitions: int = 0
    actions: int = 0
    action_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"evaluations": self.evaluations, "transitions": self.transitions, "actions": self.actions,
                "action_failures": self.action_failures}


_transition_lock = threading.RLock()


@functools.lru_cache(maxsize=64)
def region_name(region: str) -> str:
    """``US East (N. Virginia)`` for ``us-east-1``: how alarm notifications name the region."""
    try:
        import botocore.session

        for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
            described = partition.get("regions", {}).get(region)
            if described and described.get("description"):
                return described["description"]
    except Exception:
        pass
    return region


def history(backend: Any) -> list[dict[str, Any]]:
    items = getattr(backend, "_sfn_alarm_history", None)
    if items is None:
        items = backend._sfn_alarm_history = []
    return items


def add_history(backend: Any, alarm_name: str, item_type: str, summary: str, data: dict[str, Any],
                at: float | None = None) -> None:
    at = at if at is not None else time.time()
    items = history(backend)
    items.append({"AlarmName": alarm_name, "AlarmType": "MetricAlarm", "Timestamp": at, "HistoryItemType": item_type,
                  "HistorySummary": summary, "HistoryData": json.dumps(data, separators=(",", ":"))})
    if len(items) > 1000 and items[0]["Timestamp"] < at - HISTORY_SECONDS:
        items[:] = [i for i in items if i["Timestamp"] >= at - HISTORY_SECONDS]


def rule_of(alarm: Any) -> Rule | None:
    """The alarm as the pure evaluation sees it; ``None`` when the local cloud does not evaluate it."""
    if alarm.rule is not None or alarm.comparison_operator not in COMPARISONS or alarm.threshold is None:
        return None
    if alarm.metric_data_queries:
        stats = [q.metric_stat for q in alarm.metric_data_queries if q.metric_stat is not None]
        period = _int(stats[0].period) if stats else _int(alarm.period)
        statistic = None
    else:
        period = _int(alarm.period)
        statistic = alarm.statistic or alarm.extended_statistic
    if not isinstance(period, int) or period <= 0:
        return None
    return Rule(comparison=alarm.comparison_operator, threshold=float(alarm.threshold),
                evaluation_periods=int(alarm.evaluation_periods), period=period,
                datapoints_to_alarm=_int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
                treat_missing_data=alarm.treat_missing_data, statistic=statistic, unit=alarm.unit)


def _queries_of(alarm: Any) -> list[dict[str, Any]]:
    queries = []
    for q in alarm.metric_data_queries:
        query: dict[str, Any] = {"Id": q.id, "ReturnData": _truthy(q.return_data, default=True)}
        if q.label:
            query["Label"] = q.label
        if q.metric_stat is not None:
            metric = q.metric_stat.metric
            query["MetricStat"] = {
                "Metric": {"Namespace": metric.namespace, "MetricName": metric.metric_name,
                           "Dimensions": [{"Name": d.name, "Value": d.value} for d in metric.dimensions]},
                "Period": _int(q.metric_stat.period), "Stat": q.metric_stat.stat}
            if q.metric_stat.unit:
                query["MetricStat"]["Unit"] = q.metric_stat.unit
        else:
            query["Expression"] = q.expression
            if q.period:
                query["Period"] = _int(q.period)
        queries.append(query)
    return queries


def datapoints_for(backend: Any, alarm: Any, rule: Rule, end: float) -> list[Datapoint]:
    """The alarm's evaluation range ending at ``end``: N + 2 periods, oldest first."""
    from sfn_callback.localcloud import metric_store

    count = rule.evaluation_periods + 2
    start = end - count * rule.period
    values: dict[int, tuple[float, float | None]] = {}
    if alarm.metric_data_queries:
        evaluated = metric_store.evaluate_queries(backend, _queries_of(alarm), start, end)
        returned = [q for q in alarm.metric_data_queries if _truthy(q.return_data, default=True)]
        series = evaluated.get(returned[0].id, []) if returned else []
        for ts in series[:1]:
            for t, v in ts.points.items():
                values[int(round((t - start) / rule.period))] = (v, None)
    else:
        dims = metric_store.dimension_key(alarm.dimensions)
        for t, v, agg in metric_store.metric_datapoints(backend, alarm.namespace, alarm.metric_name, dims,
                                                        rule.statistic or "", start, end, rule.period, alarm.unit):
            values[int(round((t - start) / rule.period))] = (v, agg.sample_count)
    return [Datapoint(start + i * rule.period, *values.get(i, (None, None))) for i in range(count)]


def notification(alarm: Any, backend: Any, old_state: str, new_state: str, reason: str, at: float) -> dict[str, Any]:
    """AWS's JSON alarm notification (the SNS message of an alarm action)."""
    trigger: dict[str, Any]
    if alarm.metric_data_queries:
        queries = _queries_of(alarm)
        for query in queries:
            if "MetricStat" in query:
                query["MetricStat"]["Metric"]["Dimensions"] = [
                    {"value": d["Value"], "name": d["Name"]} for d in query["MetricStat"]["Metric"]["Dimensions"]]
        rule = rule_of(alarm)
        trigger = {"Period": rule.period if rule else alarm.period, "EvaluationPeriods": alarm.evaluation_periods}
    else:
        trigger = {"MetricName": alarm.metric_name, "Namespace": alarm.namespace,
                   "StatisticType": "Statistic" if alarm.statistic else "ExtendedStatistic"}
        if alarm.statistic:
            trigger["Statistic"] = alarm.statistic.upper()
        else:
            trigger["ExtendedStatistic"] = alarm.extended_statistic
        trigger.update({"Unit": alarm.unit, "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
                        "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods})
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = alarm.datapoints_to_alarm
    trigger["ComparisonOperator"] = alarm.comparison_operator
    if alarm.threshold is not None:
        trigger["Threshold"] = float(alarm.threshold)
    if alarm.threshold_metric_id:
        trigger["ThresholdMetricId"] = alarm.threshold_metric_id
    trigger["TreatMissingData"] = alarm.treat_missing_data or "missing"
    trigger["EvaluateLowSampleCountPercentile"] = alarm.evaluate_low_sample_count_percentile or ""
    if alarm.metric_data_queries:
        trigger["Metrics"] = queries
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": backend.account_id,
        "AlarmConfigurationUpdatedTimestamp": iso_millis(_epoch(alarm.configuration_updated_timestamp)),
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": iso_millis(at),
        "Region": region_name(backend.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": trigger,
    }


def _epoch(value: Any) -> float:
    from sfn_callback.localcloud.metric_store import to_epoch

    try:
        return to_epoch(value)
    except TypeError:
        return time.time()


def _reason_data_object(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def transition(backend: Any, alarm: Any, new_state: str, reason: str, reason_data: str, publish: Publish,
               stats: AlarmStats, at: float | None = None) -> None:
    """Move the alarm to ``new_state``: record the history, then run the new state's actions."""
    from sfn_callback.localcloud.metric_store import from_epoch

    at = at if at is not None else time.time()
    with _transition_lock:
        old_state, old_reason, old_data = alarm.state_value, alarm.state_reason, alarm.state_reason_data
        alarm.state_value, alarm.state_reason, alarm.state_reason_data = new_state, reason, reason_data
        alarm.state_updated_timestamp = from_epoch(at)
        alarm.state_transitioned_timestamp = from_epoch(at)
        old: dict[str, Any] = {"stateValue": old_state, "stateReason": old_reason}
        if (old_object := _reason_data_object(old_data)) not in (None, {}):
            old["stateReasonData"] = old_object
        new: dict[str, Any] = {"stateValue": new_state, "stateReason": reason}
        if (new_object := _reason_data_object(reason_data)) not in (None, {}):
            new["stateReasonData"] = new_object
        add_history(backend, alarm.name, "StateUpdate", f"Alarm updated from {old_state} to {new_state}",
                    {"version": "1.0", "oldState": old, "newState": new}, at)
        stats.transitions += 1
        log.info("alarm %s: %s -> %s: %s", alarm.name, old_state, new_state, reason)
        if not alarm.actions_enabled:
            return
        actions = {ALARM: alarm.alarm_actions, OK: alarm.ok_actions,
                   INSUFFICIENT: alarm.insufficient_data_actions}.get(new_state) or []
        if not actions:
            return
        message = json.dumps(notification(alarm, backend, old_state, new_state, reason, at), separators=(",", ":"))
        subject = f'{new_state}: "{alarm.name}" in {region_name(backend.region_name)}'[:100]
        for action in actions:
            run_action(backend, alarm, action, message, subject, publish, stats, at)


def run_action(backend: Any, alarm: Any, action: str, message: str, subject: str, publish: Publish,
               stats: AlarmStats, at: float) -> None:
    stats.actions += 1
    if action.startswith("arn:") and ":sns:" in action:
        try:
            message_id = publish(action, message, subject, backend.account_id)
        except Exception as exc:  # an unknown topic, a malformed ARN
            stats.action_failures += 1
            log.warning("alarm %s: action %s failed: %s", alarm.name, action, exc)
            add_history(backend, alarm.name, "Action", f"Failed to execute action {action}. Received error: "
                        f"\"{exc}\"", {"actionState": "Failed", "stateUpdateTimestamp": int(at * 1000),
                                       "notificationResource": action, "error": str(exc)}, at)
            return
        add_history(backend, alarm.name, "Action", f"Successfully executed action {action}",
                    {"actionState": "Succeeded", "stateUpdateTimestamp": int(at * 1000), "notificationResource": action,
                     "publishedMessage": {"messageId": message_id, "messageAttributes": {}}}, at)
        return
    stats.action_failures += 1
    log.warning("alarm %s: action %s is not supported by the local cloud (only SNS topics)", alarm.name, action)
    add_history(backend, alarm.name, "Action", f"Failed to execute action {action}. Received error: \"the local "
                "cloud runs SNS topic actions only\"", {"actionState": "Failed", "stateUpdateTimestamp": int(at * 1000),
                                                       "notificationResource": action}, at)


class AlarmEvaluator:
    """Evaluates every metric alarm of every account and region on its schedule (see the module doc)."""

    def __init__(self, publish: Publish, delay: float = 1.0, tick: float = 0.25) -> None:
        self.publish = publish
        self.delay = delay
        self.tick = tick
        self.stats = AlarmStats()
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alarm-evaluator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.run_due(time.time())
            except Exception:
                log.exception("alarm evaluation failed")

    def run_due(self, now: float) -> int:
        """Evaluate the alarms whose evaluation time has come; returns how many were evaluated."""
        from moto.cloudwatch.models import cloudwatch_backends

        done = 0
        seen: set[str] = set()
        for regions in list(cloudwatch_backends.values()):
            for backend in list(regions.values()):
                for alarm in list(backend.alarms.values()):
                    seen.add(alarm.alarm_arn)
                    rule = rule_of(alarm)
                    if rule is None:
                        continue
                    step = evaluation_step(rule.period)
                    end = math.floor((now - self.delay) / step) * step
                    key = f"{alarm.alarm_arn}#{id(alarm)}"
                    if self._last.get(key, -math.inf) >= end:
                        continue
                    self._last[key] = end
                    try:
                        self.evaluate_alarm(backend, alarm, rule, end, now)
                        done += 1
                    except Exception as exc:
                        log.warning("alarm %s could not be evaluated: %s", alarm.name, exc)
        for key in [k for k in self._last if k.split("#", 1)[0] not in seen]:
            del self._last[key]
        return done

    def evaluate_alarm(self, backend: Any, alarm: Any, rule: Rule, end: float, now: float) -> Outcome:
        points = datapoints_for(backend, alarm, rule, end)
        self.stats.evaluations += 1
        percentile = _percentile(alarm)
        if percentile is not None and (alarm.evaluate_low_sample_count_percentile or "") == "ignore":
            if any(p.value is not None and low_sample_count(percentile, p.sample_count or 0) for p in points):
                return Outcome(None, "low sample count")
        outcome = evaluate(rule, points, now)
        with _transition_lock:
            if outcome.state is not None and outcome.state != alarm.state_value and backend.alarms.get(
                    alarm.name) is alarm:
                transition(backend, alarm, outcome.state, outcome.reason,
                           json.dumps(outcome.reason_data, separators=(",", ":")), self.publish, self.stats, now)
        return outcome


def _percentile(alarm: Any) -> float | None:
    from sfn_callback.localcloud.metric_store import parse_percentile

    return parse_percentile(alarm.extended_statistic) if alarm.extended_statistic else None
