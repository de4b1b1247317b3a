"""What the dashboard shows, read from the target through the AWS APIs (the same calls on the local cloud and
on AWS): one JSON document per refresh.

Sections, each collected on its own so that one failing (a table not deployed, an API refused) leaves the
others and says why in its ``error``:

* ``waiting``: the workflows waiting on a task token: the PoC's token records in ``POLLING`` or
  ``CALLBACK_PENDING`` (GSI ``status-index`` of ``poc-task-tokens``), with the masked token, how long the job has
  waited, when its next poll is and its execution's status; and the approval tasks waiting for a person
  (``PENDING`` in ``poc-approvals``);
* ``executions``: executions by status for every state machine;
* ``graphs``: the metric graphs (:mod:`sfn_callback.dashboard.graphs` says which), one ``GetMetricData``
  query list for all of them; ``metrics``: every metric ``ListMetrics`` names;
* ``alarms``: every alarm with its state and reason; ``history``: the latest alarm history items;
* ``notifications``: what the alarms sent: the ``Action`` items of the history, and the messages waiting on
  each SQS queue subscribed to a topic an alarm notifies (or ``poc-alerts``). A queue is read with
  ``VisibilityTimeout=0`` and no message is deleted, so its consumer still gets every message; queues with a
  redrive policy (each read counts towards ``maxReceiveCount``) or an event source mapping are not read.
  Notifications seen once are kept (the latest 50) so they stay on the page after their consumer took them.

When the target cannot be reached at all the document says so in ``error`` and skips the other calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from sfn_callback import config
from sfn_callback.common.tokens import mask_token
from sfn_callback.config import Target
from sfn_callback.dashboard import graphs as graphs_mod

DASHBOARD_NAME = "poc-callbacks"
ALERTS_TOPIC = "poc-alerts"
WAITING_STATUSES = ("POLLING", "CALLBACK_PENDING")
EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
MAX_WAITING = 500
MAX_EXECUTIONS_PER_MACHINE = 10000
MAX_METRICS = 2000
HISTORY_ROWS = 50
NOTIFICATIONS_KEPT = 50

_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"total_max_attempts": 2, "mode": "standard"},
                        max_pool_connections=20)
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, ReadTimeoutError)
_CONFIGURATION = (ProfileNotFound, NoCredentialsError, PartialCredentialsError, NoRegionError)


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def default_window(target: Target) -> tuple[int, int]:
    """(window seconds, period seconds): 15 minutes in 10-second periods locally, 3 hours in minutes on AWS."""
    return (900, 10) if target.is_local else (10800, 60)


def explain(exc: BaseException, target: Target) -> str:
    """One sentence for the page: what went wrong and, when it helps, what to do."""
    where = target.endpoint_url or f"AWS ({target.region})"
    if isinstance(exc, _UNREACHABLE):
        hint = " (start the local cloud with `sfn-callback up --detach`, or pass --endpoint)" if target.is_local else ""
        return f"cannot reach {where}: nothing answers there{hint} ({exc})"
    if isinstance(exc, _CONFIGURATION):
        return f"AWS configuration: {exc}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "?"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code.isdigit() or code == "?":  # an HTTP error that is not an AWS error document
            return f"{where} did not answer as AWS does (HTTP {status}, {code}): is it a local cloud or AWS endpoint?"
        return f"{code}: {error.get('Message') or exc}"
    if isinstance(exc, BotoCoreError):
        return f"{where} did not answer as AWS does: {exc}"
    return f"{type(exc).__name__}: {exc}"


def unreachable(exc: BaseException) -> bool:
    return isinstance(exc, _UNREACHABLE + _CONFIGURATION)


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class Collector:
    """Collects the dashboard's document from ``target``; keeps the notifications it has seen."""

    def __init__(self, target: Target, *, window_seconds: int | None = None, period: int | None = None,
                 dashboard_name: str = DASHBOARD_NAME, clock: Callable[[], float] = time.time,
                 client_factory: Callable[[str], Any] | None = None) -> None:
        window, default_period = default_window(target)
        self.target = target
        self.window_seconds = window_seconds or window
        self.period = period
        self.default_period = period or default_period
        self.dashboard_name = dashboard_name
        self.clock = clock
        self._factory = client_factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.notifications: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # ------------------------------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._factory is not None:
                    self._clients[service] = self._factory(service)
                else:
                    from sfn_callback.common.aws import client

                    self._clients[service] = client(service, self.target, config=_CLIENT_CONFIG)
            return self._clients[service]

    # ------------------------------------------------------------------------------------------ document
    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        doc: dict[str, Any] = {
            "generatedAt": iso(now), "now": now, "target": self.target.endpoint_url or "aws",
            "region": self.target.region, "error": None,
            "window": {"seconds": self.window_seconds, "period": self.default_period},
        }
        empty = {"error": None}
        sections: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("alarms", self.alarms),
            ("executions", self.executions),
        ]
        for name, collect in sections:
            doc[name] = self._section(collect, doc)
            if doc["error"]:
                break
        if doc["error"]:
            for name in ("alarms", "executions", "waiting", "graphs", "metrics", "history", "notifications"):
                doc.setdefault(name, dict(empty, error=doc["error"]))
            doc["notifications"]["rows"] = list(reversed(self.notifications.values()))
            return doc
        alarms = doc["alarms"].get("raw", [])
        statuses = doc["executions"].pop("statusByArn", {})
        doc["waiting"] = self._section(lambda: self.waiting(now, statuses), doc)
        doc["metrics"] = self._section(self.metrics, doc)
        doc["graphs"] = self._section(lambda: self.graphs(now, alarms, doc["metrics"].get("raw", [])), doc)
        doc["history"] = self._section(self.history, doc)
        doc["notifications"] = self._section(lambda: self.notifications_seen(alarms, doc["history"].get("rows", [])),
                                             doc)
        doc["alarms"].pop("raw", None)
        doc["metrics"].pop("raw", None)
        return doc

    def _section(self, collect: Callable[[], dict[str, Any]], doc: dict[str, Any]) -> dict[str, Any]:
        try:
            section = collect()
            section.setdefault("error", None)
            return section
        except Exception as exc:  # every failure becomes a message on the page, never a 500
            message = explain(exc, self.target)
            if unreachable(exc):
                doc["error"] = message
            return {"error": message}

    # ------------------------------------------------------------------------------------------ waiting
    def waiting(self, now: float, execution_status: dict[str, str]) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        ddb = self.client("dynamodb")
        truncated = False
        for status in WAITING_STATUSES:
            try:
                items = self._query(ddb, config.TOKENS_TABLE, "status-index", "status", status, MAX_WAITING)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    notes.append(f"table {config.TOKENS_TABLE} not found: the callback PoC is not deployed")
                    break
                raise
            truncated = truncated or len(items) >= MAX_WAITING
            for item in items:
                rows.append(self._token_row(item, now, execution_status))
        try:
            pending = self._query(ddb, config.APPROVALS_TABLE, "status-index", "status", "PENDING", MAX_WAITING)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            pending = []
        for item in pending:
            rows.append(self._approval_row(item, now, execution_status))
        rows.sort(key=lambda r: -(r["waitingSeconds"] or 0))
        return {"rows": rows, "total": len(rows), "truncated": truncated, "notes": notes}

    @staticmethod
    def _query(ddb: Any, table: str, index: str, key: str, value: str, limit: int) -> list[dict[str, Any]]:
        from sfn_callback.common.dynamo import from_item

        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table, "IndexName": index, "KeyConditionExpression": "#k = :v",
                                  "ExpressionAttributeNames": {"#k": key},
                                  "ExpressionAttributeValues": {":v": {"S": value}}}
        while len(items) < limit:
            page = ddb.query(**kwargs)
            items.extend(from_item(i) for i in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items[:limit]

    @staticmethod
    def _execution(arn: str, execution_status: dict[str, str]) -> dict[str, Any]:
        parts = arn.split(":")
        machine = parts[6] if len(parts) > 7 else None
        name = parts[7] if len(parts) > 7 else arn
        return {"workflow": machine, "execution": name, "executionArn": arn or None,
                "executionStatus": execution_status.get(arn)}

    def _token_row(self, item: dict[str, Any], now: float, execution_status: dict[str, str]) -> dict[str, Any]:
        created = to_epoch(item.get("createdAt"))
        next_poll = to_epoch(item.get("nextPollAt"))
        schedule = item.get("scheduleName") or ""
        return {
            "kind": "token", "jobId": item.get("jobId"), "status": item.get("status"),
            "token": mask_token(item.get("taskToken")),
            **self._execution(str(item.get("executionId") or ""), execution_status),
            "since": iso(created), "waitingSeconds": None if created is None else round(now - created, 1),
            "nextPollAt": iso(next_poll), "nextPollInSeconds": None if next_poll is None else round(next_poll - now, 1),
            "attempts": item.get("attemptCount"), "maxAttempts": item.get("maxAttempts"),
            "intervalSeconds": item.get("intervalSeconds"), "expiresAt": item.get("expiresAt"),
            "mode": "sweep" if schedule == "sweep-mode" else "per-job", "schedule": schedule or None,
        }

    def _approval_row(self, item: dict[str, Any], now: float, execution_status: dict[str, str]) -> dict[str, Any]:
        started = to_epoch(item.get("startTime"))
        return {
            "kind": "approval", "jobId": item.get("orderId"), "status": "PENDING (a person decides)",
            "token": mask_token(item.get("taskToken")),
            **self._execution(str(item.get("transactionId") or ""), execution_status),
            "since": iso(started), "waitingSeconds": None if started is None else round(now - started, 1),
            "nextPollAt": None, "nextPollInSeconds": None, "attempts": None, "maxAttempts": None,
            "intervalSeconds": None, "expiresAt": item.get("expiresAt"), "mode": "approval", "schedule": None,
        }

    # ------------------------------------------------------------------------------------------ executions
    def executions(self) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        machines: list[dict[str, Any]] = []
        status_by_arn: dict[str, str] = {}
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                counts = {s: 0 for s in EXECUTION_STATUSES}
                total = 0
                truncated = False
                kwargs: dict[str, Any] = {"stateMachineArn": machine["stateMachineArn"], "maxResults": 1000}
                while True:
                    listed = sfn.list_executions(**kwargs)
                    for execution in listed["executions"]:
                        counts[execution["status"]] = counts.get(execution["status"], 0) + 1
                        status_by_arn[execution["executionArn"]] = execution["status"]
                        total += 1
                    if not listed.get("nextToken"):
                        break
                    if total >= MAX_EXECUTIONS_PER_MACHINE:
                        truncated = True
                        break
                    kwargs["nextToken"] = listed["nextToken"]
                machines.append({"name": machine["name"], "arn": machine["stateMachineArn"], "counts": counts,
                                 "total": total, "truncated": truncated})
        machines.sort(key=lambda m: (not m["name"].startswith("poc-"), m["name"]))
        return {"machines": machines, "statuses": list(EXECUTION_STATUSES), "statusByArn": status_by_arn}

    # ------------------------------------------------------------------------------------------ alarms
    def alarms(self) -> dict[str, Any]:
        cw = self.client("cloudwatch")
        metric_alarms: list[dict[str, Any]] = []
        composite: list[dict[str, Any]] = []
        for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
            metric_alarms.extend(page.get("MetricAlarms", []))
            composite.extend(page.get("CompositeAlarms", []))
        rows = []
        for alarm in metric_alarms + composite:
            if alarm.get("MetricName"):
                dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
                watched = f"{alarm.get('Namespace')} {graphs_mod.metric_label(alarm['MetricName'], dims)}"
            elif alarm.get("Metrics"):
                watched = "; ".join(q.get("Expression") or q.get("MetricStat", {}).get("Metric", {}).get(
                    "MetricName", "") for q in alarm["Metrics"] if q.get("ReturnData", True))
            else:
                watched = alarm.get("AlarmRule", "")
            rows.append({
                "name": alarm["AlarmName"], "state": alarm.get("StateValue"), "reason": alarm.get("StateReason"),
                "updated": iso(to_epoch(alarm.get("StateUpdatedTimestamp"))), "watches": watched,
                "comparison": alarm.get("ComparisonOperator"), "threshold": alarm.get("Threshold"),
                "period": alarm.get("Period"), "evaluationPeriods": alarm.get("EvaluationPeriods"),
                "actions": [a.rsplit(":", 1)[-1] for a in alarm.get("AlarmActions") or []],
                "kind": "composite" if "AlarmRule" in alarm and not alarm.get("MetricName") else "metric",
            })
        order = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
        rows.sort(key=lambda r: (order.get(r["state"], 3), r["name"]))
        counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("ALARM", "INSUFFICIENT_DATA", "OK")}
        return {"rows": rows, "counts": counts, "raw": metric_alarms}

    def history(self) -> dict[str, Any]:
        cw = self.client("cloudwatch")
        items = cw.describe_alarm_history(MaxRecords=HISTORY_ROWS, ScanBy="TimestampDescending").get(
            "AlarmHistoryItems", [])
        rows = [{"time": iso(to_epoch(i.get("Timestamp"))), "alarm": i.get("AlarmName"), "type": i.get("HistoryItemType"),
                 "summary": i.get("HistorySummary"), "states": _states_of(i)} for i in items
                if i.get("HistoryItemType") in ("StateUpdate", "Action")]
        return {"rows": rows}

    # ------------------------------------------------------------------------------------------ metrics
    def metrics(self) -> dict[str, Any]:
        cw = self.client("cloudwatch")
        metrics: list[dict[str, Any]] = []
        for page in cw.get_paginator("list_metrics").paginate():
            metrics.extend(page.get("Metrics", []))
            if len(metrics) >= MAX_METRICS:
                break
        listed = sorted(({"namespace": m["Namespace"], "name": m["MetricName"],
                          "dimensions": {d["Name"]: graphs_mod.short_value(d["Name"], d["Value"])
                                         for d in m.get("Dimensions") or []}} for m in metrics),
                        key=lambda m: (m["namespace"].startswith("AWS/"), m["namespace"], m["name"],
                                       sorted(m["dimensions"].items())))
        namespaces: dict[str, int] = {}
        for m in listed:
            namespaces[m["namespace"]] = namespaces.get(m["namespace"], 0) + 1
        return {"list": listed[:500], "total": len(listed), "namespaces": namespaces, "raw": metrics}

    def dashboard_body(self) -> dict[str, Any] | None:
        cw = self.client("cloudwatch")
        try:
            body = cw.get_dashboard(DashboardName=self.dashboard_name).get("DashboardBody") or "{}"
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError"):
                return None
            raise
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def graphs(self, now: float, alarms: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> dict[str, Any]:
        body = self.dashboard_body()
        chosen = graphs_mod.select_graphs((self.dashboard_name, body) if body else None, alarms, metrics)
        source = f"dashboard {self.dashboard_name}" if chosen and chosen[0].source.startswith("dashboard") else \
            "the alarms' metrics and the metrics listed"
        start, end = now - self.window_seconds, now
        series = fetch_series(self.client("cloudwatch"), chosen, start, end, self.default_period, self.period)
        out = []
        for index, graph in enumerate(chosen):
            lines = series.get(index, [])
            out.append({"title": graph.title, "source": graph.source, "thresholds": graph.thresholds,
                        "period": self.period or graph.period or self.default_period, "series": lines})
        return {"source": source, "graphs": out, "start": start, "end": end,
                "dashboard": self.dashboard_name if body else None}

    # ------------------------------------------------------------------------------------------ notifications
    def notifications_seen(self, alarms: list[dict[str, Any]], history_rows: list[dict[str, Any]]) -> dict[str, Any]:
        topics = {a for alarm in alarms for key in ("AlarmActions", "OKActions", "InsufficientDataActions")
                  for a in alarm.get(key) or [] if a.startswith("arn:aws:sns:")}
        sns = self.client("sns")
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == ALERTS_TOPIC:
                    topics.add(topic["TopicArn"])
        queues: list[dict[str, Any]] = []
        for topic in sorted(topics):
            try:
                subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])
            except ClientError as exc:
                if _code(exc) in ("NotFound", "NotFoundException"):
                    continue
                raise
            for sub in subscriptions:
                if sub.get("Protocol") != "sqs":
                    continue
                queues.append(self._peek(topic, sub["Endpoint"], sub.get("SubscriptionArn", "")))
        for row in history_rows:
            if row["type"] == "Action" and "arn:aws:sns:" in (row.get("summary") or ""):
                key = f"history:{row['time']}:{row['alarm']}:{row['summary']}"
                if key not in self.notifications:
                    ok = (row.get("summary") or "").startswith("Successfully")
                    self._keep(key, {"time": row["time"], "alarm": row["alarm"], "state": None,
                                     "subject": None, "reason": row["summary"],
                                     "via": "alarm action (history)" + ("" if ok else ", failed")})
        received = {(r["alarm"], r["time"]) for r in self.notifications.values() if r["via"].startswith("queue")}
        rows = sorted((r for r in self.notifications.values()  # an action whose message was read is shown once
                       if r["via"].startswith("queue") or (r["alarm"], r["time"]) not in received),
                      key=lambda r: r.get("time") or "", reverse=True)
        return {"rows": rows, "queues": queues, "topics": [t.rsplit(":", 1)[-1] for t in sorted(topics)]}

    def _keep(self, key: str, row: dict[str, Any]) -> None:
        self.notifications[key] = row
        while len(self.notifications) > NOTIFICATIONS_KEPT:
            self.notifications.popitem(last=False)

    def _peek(self, topic: str, queue_arn: str, subscription: str) -> dict[str, Any]:
        sqs = self.client("sqs")
        parts = queue_arn.split(":")
        name = parts[-1]
        info: dict[str, Any] = {"queue": name, "topic": topic.rsplit(":", 1)[-1], "read": False, "note": None}
        try:
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy",
                                                                                 "ApproximateNumberOfMessages"])
        except ClientError as exc:
            info["note"] = explain(exc, self.target)
            return info
        attrs = attributes.get("Attributes", {})
        info["messages"] = int(attrs.get("ApproximateNumberOfMessages") or 0)
        if attrs.get("RedrivePolicy"):
            info["note"] = "not read: the queue has a redrive policy (a read counts towards maxReceiveCount)"
            return info
        try:
            mappings = self.client("lambda").list_event_source_mappings(EventSourceArn=queue_arn).get(
                "EventSourceMappings", [])
        except ClientError:
            mappings = []
        if mappings:
            info["note"] = "not read: a function consumes the queue (" + ", ".join(
                m.get("FunctionArn", "").rsplit(":", 1)[-1] for m in mappings) + ")"
            return info
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0,
                                  AttributeNames=["All"]).get("Messages", [])
        info["read"] = True
        for message in got:
            row = _notification(message, name)
            key = row.pop("key")
            if key not in self.notifications:
                self._keep(key, row)
        return info


def _states_of(item: dict[str, Any]) -> dict[str, str] | None:
    try:
        data = json.loads(item.get("HistoryData") or "{}")
    except ValueError:
        return None
    old, new = data.get("oldState", {}).get("stateValue"), data.get("newState", {}).get("stateValue")
    return {"old": old, "new": new} if old or new else None


def _notification(message: dict[str, Any], queue: str) -> dict[str, Any]:
    """An SNS alarm notification read from a queue (SNS envelope or raw delivery)."""
    body: Any = message.get("Body", "")
    sent = to_epoch(int(message.get("Attributes", {}).get("SentTimestamp", "0") or 0) or None)
    subject = None
    key = f"sqs:{message.get('MessageId')}"
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification" and "Message" in envelope:
        subject = envelope.get("Subject")
        key = f"sns:{envelope.get('MessageId') or message.get('MessageId')}"
        sent = to_epoch(envelope.get("Timestamp")) or sent
        try:
            inner = json.loads(envelope["Message"])
        except (TypeError, ValueError):
            inner = envelope["Message"]
    else:
        inner = envelope if envelope is not None else body
    if isinstance(inner, dict) and "AlarmName" in inner:
        return {"key": key, "time": iso(to_epoch(inner.get("StateChangeTime")) or sent), "alarm": inner.get("AlarmName"),
                "state": inner.get("NewStateValue"), "subject": subject, "reason": inner.get("NewStateReason"),
                "via": f"queue {queue}"}
    text = inner if isinstance(inner, str) else json.dumps(inner)
    return {"key": key, "time": iso(sent), "alarm": None, "state": None, "subject": subject,
            "reason": text[:500], "via": f"queue {queue}"}


def fetch_series(cw: Any, chosen: list[graphs_mod.Graph], start: float, end: float, default_period: int,
                 override_period: int | None = None) -> dict[int, list[dict[str, Any]]]:
    """GetMetricData for all graphs (in calls of at most 500 queries, a graph's queries kept together);
    ``{graph index: [{"label", "points": [[epoch seconds, value], ...], "status", "messages"}]}``."""
    batches: list[list[int]] = [[]]
    size = 0
    for index, graph in enumerate(chosen):
        if size + len(graph.lines) > 500 and batches[-1]:
            batches.append([])
            size = 0
        batches[-1].append(index)
        size += len(graph.lines)
    out: dict[int, list[dict[str, Any]]] = {}
    for batch in batches:
        if not batch:
            continue
        subset = [chosen[i] for i in batch]
        queries, owners = graphs_mod.queries_for(subset, default_period, override_period)
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": datetime.fromtimestamp(start, UTC),
                                  "EndTime": datetime.fromtimestamp(end, UTC), "ScanBy": "TimestampAscending"}
        results: dict[str, dict[str, Any]] = {}
        while True:
            page = cw.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                have = results.setdefault(result["Id"], {"Id": result["Id"], "Label": result.get("Label"),
                                                         "Timestamps": [], "Values": [], "StatusCode": None,
                                                         "Messages": []})
                have["Timestamps"] += result.get("Timestamps", [])
                have["Values"] += result.get("Values", [])
                have["StatusCode"] = result.get("StatusCode")
                have["Messages"] += [m.get("Value") for m in result.get("Messages", [])]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for query in queries:
            if not query.get("ReturnData", True):
                continue
            local_index, label = owners[query["Id"]]
            result = results.get(query["Id"], {})
            points = sorted(([at, float(v)] for t, v in zip(result.get("Timestamps", []), result.get("Values", []))
                             if (at := to_epoch(t)) is not None), key=lambda p: p[0])
            out.setdefault(batch[local_index], []).append({"label": label, "points": points,
                                                           "status": result.get("StatusCode"),
                                                           "messages": result.get("Messages", [])})
    return out
