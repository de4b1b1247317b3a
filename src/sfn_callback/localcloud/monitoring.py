"""Monitoring on the local cloud: CloudWatch metrics, alarms and SNS notifications, wired into moto.

The pieces, each in its own module:

* :mod:`emf`: log events that are Embedded Metric Format documents become metric data (any write to moto's
  CloudWatch Logs: ``PutLogEvents`` and the local cloud's own Lambda log writes);
* :mod:`service_metrics`: ``AWS/States`` per state machine from executions as they start and end, ``AWS/SQS``
  per queue sampled on a period;
* :mod:`metric_store` and :mod:`metric_math`: ``GetMetricStatistics``, ``GetMetricData`` and ``ListMetrics``
  answered as CloudWatch computes them;
* :mod:`alarms`: metric alarms evaluated on their period, with history (``DescribeAlarmHistory``) and actions;
* :mod:`sns_delivery`: SNS delivers to SQS, Lambda and loopback HTTP/HTTPS endpoints.

The local cloud calls :func:`install` once (from its patches, before serving) and then
:meth:`Monitoring.start` / :meth:`Monitoring.stop`; :meth:`Monitoring.health` is its part of ``/health``.
Settings (environment variables, read when the local cloud starts):

=======================================  =======  ==========================================================
``SFN_CALLBACK_SQS_METRICS_PERIOD``      10       seconds between ``AWS/SQS`` samples (60 on AWS)
``SFN_CALLBACK_ALARM_EVALUATION_DELAY``  1        seconds after a period's end before it is evaluated
``SFN_CALLBACK_SNS_HTTP_RETRY_DELAY``    1        seconds between HTTP delivery retries (20 on AWS)
``SFN_CALLBACK_METRICS_RETENTION_HOURS`` 24       hours of raw metric data kept
=======================================  =======  ==========================================================

Other code (a component's stack, a dashboard, a report) needs none of this: it uses the CloudWatch, SNS and
Logs APIs, as it would on AWS.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from sfn_callback.localcloud import alarms, emf, metric_store
from sfn_callback.localcloud.patching import mark, replace
from sfn_callback.localcloud.service_metrics import SqsMetrics, install_states_metrics
from sfn_callback.localcloud.sns_delivery import SnsDelivery

log = logging.getLogger("sfn_callback.localcloud.monitoring")


@dataclass
class MonitoringConfig:
    sqs_metrics_period: float = 10.0
    alarm_evaluation_delay: float = 1.0
    sns_http_retry_delay: float = 1.0
    metrics_retention_hours: float = 24.0

    @classmethod
    def from_env(cls) -> MonitoringConfig:
        env = os.environ

        def number(name: str, default: float) -> float:
            try:
                value = float(env.get(name, default))
            except ValueError:
                log.error("%s must be a number of seconds; using %s", name, default)
                return default
            return value if value > 0 else default

        return cls(sqs_metrics_period=number("SFN_CALLBACK_SQS_METRICS_PERIOD", cls.sqs_metrics_period),
                   alarm_evaluation_delay=number("SFN_CALLBACK_ALARM_EVALUATION_DELAY", cls.alarm_evaluation_delay),
                   sns_http_retry_delay=number("SFN_CALLBACK_SNS_HTTP_RETRY_DELAY", cls.sns_http_retry_delay),
                   metrics_retention_hours=number("SFN_CALLBACK_METRICS_RETENTION_HOURS",
                                                  cls.metrics_retention_hours))


def _cloudwatch(account: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account][region]


def record(account: str, region: str, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...],
           value: float, unit: str, timestamp: float) -> None:
    """Publish one value of a metric into the local cloud's CloudWatch (what AWS services do for themselves)."""
    metric_store.publish(_cloudwatch(account, region), namespace, name, dimensions, [value], unit, timestamp)


class Monitoring:
    """The monitoring parts of one local cloud."""

    def __init__(self, cloud: Any, config: MonitoringConfig | None = None) -> None:
        self.cloud = cloud
        self.config = config or MonitoringConfig.from_env()
        self.emf_stats = emf.EmfStats()
        self.sqs = SqsMetrics(record, period=self.config.sqs_metrics_period)
        self.sns = SnsDelivery(cloud.endpoint_url, self._invoke_async, retry_delay=self.config.sns_http_retry_delay)
        self.evaluator = alarms.AlarmEvaluator(self.publish_to_topic, delay=self.config.alarm_evaluation_delay)
        self._stop = threading.Event()
        self._housekeeper = threading.Thread(target=self._housekeep, name="metrics-retention", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------
    def install(self) -> Monitoring:
        emf.install(self._emf_sink, self._emf_error, self.emf_stats)
        install_states_metrics(record)
        self.sqs.install()
        self.sns.install()
        _install_cloudwatch(self)
        return self

    def start(self) -> None:
        self.sqs.start()
        self.evaluator.start()
        self._housekeeper.start()

    def stop(self) -> None:
        self._stop.set()
        self.evaluator.stop()
        self.sqs.stop()
        self.sns.close()

    def health(self) -> dict[str, Any]:
        return {"cloudwatch": {"emf": self.emf_stats.as_dict(), "alarms": self.evaluator.stats.as_dict(),
                               "sqs_samples": self.sqs.samples},
                "sns": json.loads(json.dumps(self.sns.stats))}

    def _housekeep(self) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        while not self._stop.wait(600):
            horizon = time.time() - self.config.metrics_retention_hours * 3600
            for regions in list(cloudwatch_backends.values()):
                for backend in list(regions.values()):
                    dropped = metric_store.trim(backend, horizon)
                    if dropped:
                        log.info("dropped %d metric data points older than %.0f h", dropped,
                                 self.config.metrics_retention_hours)

    # -- the connections -------------------------------------------------------------------------
    def _emf_sink(self, account: str, region: str, metrics: list[emf.MetricValue]) -> None:
        backend = _cloudwatch(account, region)
        for metric in metrics:
            metric_store.publish(backend, metric.namespace, metric.name, metric.dimensions, metric.values,
                                 metric.unit, metric.timestamp_ms / 1000.0)

    def _emf_error(self, account: str, region: str, log_group: str, kind: str) -> None:
        name = "EMFParsingErrors" if kind == "parsing" else "EMFValidationErrors"
        record(account, region, "AWS/Logs", name, (("LogGroupName", log_group),), 1.0, "Count", time.time())

    def _invoke_async(self, account: str, region: str, function_arn: str, payload: str) -> None:
        cloud = self.cloud
        cloud.executor.invoke_async(cloud.function_spec(account, region, function_arn), payload)

    def publish_to_topic(self, topic_arn: str, message: str, subject: str, account: str) -> str:
        from moto.sns.models import sns_backends

        parts = topic_arn.split(":")
        if len(parts) != 6 or parts[2] != "sns":
            raise ValueError(f"{topic_arn} is not an SNS topic ARN")
        backend = sns_backends[parts[4]][parts[3]]
        if topic_arn not in backend.topics:
            raise ValueError(f"Topic {topic_arn} does not exist")
        return backend.publish(message, arn=topic_arn, subject=subject)


def install(cloud: Any) -> Monitoring:
    """Install monitoring into the local cloud's moto (once, before serving); sets ``cloud.monitoring``."""
    monitoring = Monitoring(cloud).install()
    cloud.monitoring = monitoring
    return monitoring


# -- CloudWatch API patches ----------------------------------------------------------------------------
def _error(code: str, message: str) -> Exception:
    from moto.cloudwatch import exceptions

    cls: type[Exception] | None = {"InvalidParameterValue": exceptions.InvalidParameterValue,
           "InvalidParameterCombination": exceptions.InvalidParameterCombination,
           "ValidationError": exceptions.ValidationError,
           "ResourceNotFound": exceptions.ResourceNotFound}.get(code)
    if cls is None:
        cls = type(code, (exceptions.CloudWatchException,), {"code": code})
    return cls(message)


def _alarm_config(alarm: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "alarmName": alarm.name, "alarmArn": alarm.alarm_arn, "alarmDescription": alarm.description,
        "actionsEnabled": alarm.actions_enabled, "alarmActions": list(alarm.alarm_actions or []),
        "okactions": list(alarm.ok_actions or []),
        "insufficientDataActions": list(alarm.insufficient_data_actions or []),
        "evaluationPeriods": alarm.evaluation_periods, "datapointsToAlarm": alarm.datapoints_to_alarm,
        "comparisonOperator": alarm.comparison_operator, "threshold": alarm.threshold,
        "treatMissingData": alarm.treat_missing_data}
    if alarm.metric_data_queries:
        config["metrics"] = alarms._queries_of(alarm)
    else:
        config.update({"namespace": alarm.namespace, "metricName": alarm.metric_name, "period": alarm.period,
                       "statistic": alarm.statistic, "extendedStatistic": alarm.extended_statistic,
                       "unit": alarm.unit, "dimensions": [{"name": d.name, "value": d.value}
                                                          for d in alarm.dimensions]})
    return {k: v for k, v in config.items() if v is not None}


def _install_cloudwatch(monitoring: Monitoring) -> None:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    if getattr(CloudWatchBackend.put_metric_alarm, "_sfn_callback", False):
        return
    evaluator = monitoring.evaluator
    original_put = CloudWatchBackend.put_metric_alarm
    original_delete = CloudWatchBackend.delete_alarms

    def put_metric_alarm(backend: Any, **kwargs: Any) -> Any:
        if kwargs.get("rule") is None:  # composite alarms are stored as moto stores them
            for code, message in alarms.validate_alarm(kwargs):
                raise _error(code, message)
        with alarms._transition_lock:
            previous = backend.alarms.get(kwargs.get("name"))
            alarm: Any = original_put(backend, **kwargs)  # moto's Alarm, with the attributes CloudWatch has too
            if previous is not None:
                for name in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp"):
                    setattr(alarm, name, getattr(previous, name))
                alarm.state_transitioned_timestamp = getattr(previous, "state_transitioned_timestamp",
                                                             previous.state_updated_timestamp)
            else:
                alarm.state_value, alarm.state_reason = alarms.INSUFFICIENT, alarms.INITIAL_REASON
                alarm.state_reason_data = None
                alarm.state_transitioned_timestamp = alarm.state_updated_timestamp
            kind = "Update" if previous is not None else "Create"
            alarms.add_history(backend, alarm.name, "ConfigurationUpdate",
                               f'Alarm "{alarm.name}" {"updated" if previous is not None else "created"}',
                               {"version": "1.0", "type": kind,
                                ("updatedAlarm" if previous is not None else "createdAlarm"): _alarm_config(alarm)})
        return alarm

    def delete_alarms(backend: Any, alarm_names: list[str]) -> None:
        with alarms._transition_lock:
            for name in alarm_names:
                alarm = backend.alarms.get(name)
                if alarm is not None:
                    alarms.add_history(backend, name, "ConfigurationUpdate", f'Alarm "{name}" deleted',
                                       {"version": "1.0", "type": "Delete", "deletedAlarm": _alarm_config(alarm)})
            original_delete(backend, alarm_names)

    def set_alarm_state(backend: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        from moto.cloudwatch.exceptions import InvalidFormat, ResourceNotFound, ValidationError

        try:
            if reason_data is not None:
                json.loads(reason_data)
        except ValueError:
            raise InvalidFormat("Unknown") from None
        alarm = backend.alarms.get(alarm_name)
        if alarm is None:
            raise ResourceNotFound
        if state_value not in (alarms.OK, alarms.ALARM, alarms.INSUFFICIENT):
            raise ValidationError(f"1 validation error detected: Value '{state_value}' at 'stateValue' failed to "
                                  "satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, "
                                  "ALARM, OK]")
        with alarms._transition_lock:
            if alarm.state_value != state_value:
                alarms.transition(backend, alarm, state_value, reason, reason_data, evaluator.publish,
                                  evaluator.stats)
            else:  # the same state: the reason changes, no actions run
                alarm.state_reason, alarm.state_reason_data = reason, reason_data

    for name, function in (("put_metric_alarm", put_metric_alarm), ("delete_alarms", delete_alarms),
                           ("set_alarm_state", set_alarm_state)):
        mark(function, "_sfn_callback")
        setattr(CloudWatchBackend, name, function)

    def guarded(call: Any) -> Any:
        try:
            return call()
        except metric_store.QueryError as exc:
            raise _error(exc.code, exc.message) from None

    def get_metric_statistics(response: Any) -> Any:
        points = guarded(lambda: metric_store.get_metric_statistics(
            response.cloudwatch_backend, response._get_param("Namespace"), response._get_param("MetricName"),
            response._get_param("StartTime"), response._get_param("EndTime"), response._get_param("Period"),
            response._get_param("Statistics", []), response._get_param("ExtendedStatistics", []),
            response._get_param("Dimensions", []), response._get_param("Unit")))
        return ActionResult({"Label": response._get_param("MetricName"), "Datapoints": points})

    def get_metric_data(response: Any) -> Any:
        params = response._get_params()
        results = guarded(lambda: metric_store.get_metric_data(
            response.cloudwatch_backend, params.get("MetricDataQueries", []), params.get("StartTime"),
            params.get("EndTime"), params.get("ScanBy")))
        return ActionResult({"MetricDataResults": results, "Messages": []})

    def list_metrics(response: Any) -> Any:
        params = response._get_params()
        metrics = metric_store.list_metrics(response.cloudwatch_backend, params.get("Namespace"),
                                            params.get("MetricName"), params.get("Dimensions", []),
                                            params.get("RecentlyActive"))
        start = int(params.get("NextToken") or 0) if str(params.get("NextToken") or "0").isdigit() else 0
        page = metrics[start:start + 500]
        result: dict[str, Any] = {"Metrics": page}
        if start + 500 < len(metrics):
            result["NextToken"] = str(start + 500)
        return ActionResult(result)

    def describe_alarm_history(response: Any) -> Any:
        params = response._get_params()
        name = params.get("AlarmName")
        item_type = params.get("HistoryItemType")
        types = params.get("AlarmTypes") or []
        start = metric_store.to_epoch(params["StartDate"]) if params.get("StartDate") else None
        end = metric_store.to_epoch(params["EndDate"]) if params.get("EndDate") else None
        items = [i for i in list(alarms.history(response.cloudwatch_backend))
                 if (not name or i["AlarmName"] == name) and (not item_type or i["HistoryItemType"] == item_type)
                 and (not types or i["AlarmType"] in types) and (start is None or i["Timestamp"] >= start)
                 and (end is None or i["Timestamp"] <= end)]
        items.sort(key=lambda i: i["Timestamp"], reverse=(params.get("ScanBy") or "TimestampDescending")
                   == "TimestampDescending")
        offset = int(params["NextToken"]) if str(params.get("NextToken") or "").isdigit() else 0
        limit = max(1, min(int(params.get("MaxRecords") or 100), 100))
        page = [{**i, "Timestamp": metric_store.from_epoch(i["Timestamp"])} for i in items[offset:offset + limit]]
        result: dict[str, Any] = {"AlarmHistoryItems": page}
        if offset + limit < len(items):
            result["NextToken"] = str(offset + limit)
        return ActionResult(result)

    def snapshot(original: Any) -> Any:
        """An alarm changes state in another thread: answer copies taken under the transition lock, so a
        description never pairs a new state with the previous reason."""
        import copy

        def respond(response: Any) -> Any:
            result = original(response)
            with alarms._transition_lock:
                for key, value in list(result.result.items()):
                    if isinstance(value, list):
                        result.result[key] = [copy.copy(alarm) for alarm in value]
            return result

        return respond

    replace(CloudWatchResponse, "describe_alarms", snapshot(CloudWatchResponse.describe_alarms))
    replace(CloudWatchResponse, "describe_alarms_for_metric", snapshot(CloudWatchResponse.describe_alarms_for_metric))
    replace(CloudWatchResponse, "get_metric_statistics", get_metric_statistics)
    replace(CloudWatchResponse, "get_metric_data", get_metric_data)
    replace(CloudWatchResponse, "list_metrics", list_metrics)
    replace(CloudWatchResponse, "describe_alarm_history", describe_alarm_history)
