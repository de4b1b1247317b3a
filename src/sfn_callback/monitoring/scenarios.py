"""Alarm scenarios: a fault made on purpose, the deployed alarm's reaction read back from the target.

Both subscribe a queue of their own to ``poc-alerts`` for the run (removed afterwards) and decide every check
from what the target holds: the notifications on that queue (``AlarmName``, ``NewStateValue``,
``NewStateReason``, ``StateChangeTime``), the alarm's ``DescribeAlarmHistory``, the metrics, the execution.

* ``alarm-callback-failures``: the local cloud's fault injection makes the next two ``SendTaskSuccess`` calls
  of ``poc-poller`` answer ``AccessDeniedException`` (the error a missing ``states:SendTaskSuccess`` permission
  gives). One job completes; its poll's callback fails, Lambda's retry of that invocation fails again, the second
  retry goes through: ``CallbackFailureRate`` goes to ALARM within two periods of the first failure, the
  notification arrives with the alarm's name and reason, the workflow still succeeds (nothing is lost), and
  the alarm returns to OK once callbacks flow.
* ``alarm-dlq``: a message that is not an approval request (poisoned) on ``poc-approval-requests``: the
  consumer refuses it on every receive and the redrive policy moves it to ``poc-approval-requests-dlq``;
  ``DeadLetterQueueNotEmpty-poc-approval-requests-dlq`` goes to ALARM and notifies. While it runs the scenario
  lowers the queue's visibility timeout to 1 s, so the three receives take seconds instead of 90 s, and puts
  the queue's own value back at the end; it then takes its message off the DLQ and sees the alarm return to OK.

Both need a local target (fault injection, 10-second alarm periods); elsewhere they fail their first check
saying so.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from botocore.exceptions import ClientError

from sfn_callback import config
from sfn_callback.common.aws import client
from sfn_callback.config import Target
from sfn_callback.metrics import names as n
from sfn_callback.scenarios import Check, ProgressRows, RunOptions, ScenarioResult, register

FAULT_ERROR = "AccessDeniedException"
FAULT_COUNT = 2  # the first call and Lambda's first retry fail; the second retry goes through
POLL_EVERY = 0.5


def _account(target: Target) -> str:
    return config.LOCAL_ACCOUNT_ID if target.is_local else client("sts", target).get_caller_identity()["Account"]


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class AlertInbox:
    """A queue subscribed to ``poc-alerts`` for one run: the notifications it receives, parsed."""

    def __init__(self, target: Target, label: str) -> None:
        self.sqs, self.sns = client("sqs", target), client("sns", target)
        account = _account(target)
        self.topic_arn = f"arn:aws:sns:{target.region}:{account}:{n.ALERTS_TOPIC}"
        self.name = f"{n.ALERTS_TOPIC}-{label}-{uuid.uuid4().hex[:8]}"
        self.queue_arn = f"arn:aws:sqs:{target.region}:{account}:{self.name}"
        self.url: str | None = None
        self.subscription: str | None = None
        self.notifications: list[dict[str, Any]] = []

    def __enter__(self) -> AlertInbox:
        self.sns.get_topic_attributes(TopicArn=self.topic_arn)  # the stack is deployed (NotFound otherwise)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": self.queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}}}]}
        self.url = self.sqs.create_queue(QueueName=self.name, Attributes={"Policy": json.dumps(policy)})["QueueUrl"]
        self.subscription = self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self.queue_arn,
                                               ReturnSubscriptionArn=True)["SubscriptionArn"]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.subscription:
            try:
                self.sns.unsubscribe(SubscriptionArn=self.subscription)
            except ClientError:
                pass
        if self.url:
            try:
                self.sqs.delete_queue(QueueUrl=self.url)
            except ClientError:
                pass

    def receive(self) -> None:
        assert self.url is not None
        for m in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=0).get("Messages", []):
            try:
                envelope = json.loads(m["Body"])
                doc = json.loads(envelope.get("Message") or "{}")
                if isinstance(doc, dict):
                    doc["_subject"] = envelope.get("Subject")
                    self.notifications.append(doc)
            except ValueError:
                pass
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def find(self, alarm: str, state: str, after: float = 0.0) -> dict[str, Any] | None:
        """The first notification of ``alarm`` entering ``state`` at or after ``after`` (epoch seconds)."""
        return next((d for d in self.notifications if d.get("AlarmName") == alarm
                     and d.get("NewStateValue") == state and _epoch(d.get("StateChangeTime") or "") >= after),
                    None)

    def wait(self, alarm: str, state: str, timeout: float, tick: Callable[[], None] | None = None,
             after: float = 0.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            self.receive()
            found = self.find(alarm, state, after)
            if found is not None or time.monotonic() >= deadline:
                return found
            if tick:
                tick()
            time.sleep(POLL_EVERY)


def alarm_period(cw: Any, alarm: str) -> int | None:
    found = cw.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms", [])
    if not found:
        return None
    a = found[0]
    periods = [q["MetricStat"]["Period"] for q in a.get("Metrics") or [] if q.get("MetricStat")]
    return int(a.get("Period") or (periods[0] if periods else 0)) or None


def alarm_state(cw: Any, alarm: str) -> str | None:
    found = cw.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms", [])
    return found[0]["StateValue"] if found else None


def wait_not_alarm(cw: Any, alarm: str, timeout: float) -> bool:
    """An alarm left in ALARM by an earlier run would hide this run's transition: wait for it to clear."""
    deadline = time.monotonic() + timeout
    while alarm_state(cw, alarm) == "ALARM":
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_EVERY)
    return True


def breaching_recently(cw: Any, alarm: str) -> bool | None:
    """Does the alarm's own query breach in any of its last EvaluationPeriods + 2 periods (None: unknown)?"""
    found = cw.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms", [])
    if not found or not found[0].get("Metrics"):
        return None
    a = found[0]
    period = alarm_period(cw, alarm) or 60
    queries = []
    for q in a["Metrics"]:
        query = {k: v for k, v in q.items() if k in ("Id", "MetricStat", "Expression", "Label", "ReturnData")}
        queries.append(query)
    end = time.time()
    start = end - (int(a["EvaluationPeriods"]) + 2) * period
    result = cw.get_metric_data(MetricDataQueries=queries, StartTime=datetime.fromtimestamp(start - period),
                                EndTime=datetime.fromtimestamp(end + period))
    # CloudWatch aligns the periods to the minute of StartTime: keep only the alarm's own range.
    values = [v for r in result["MetricDataResults"] for t, v in zip(r.get("Timestamps", []), r.get("Values", []))
              if t.timestamp() >= start - period]
    return any(v > float(a["Threshold"]) for v in values)


def wait_quiet(cw: Any, alarm: str, timeout: float) -> bool:
    """The alarm OK and its metric not breaching in its evaluation range: a transition seen afterwards is this
    run's, not the end of an earlier run's failures."""
    deadline = time.monotonic() + timeout
    while alarm_state(cw, alarm) != "OK" or breaching_recently(cw, alarm):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_EVERY)
    return True


def state_updates(cw: Any, alarm: str, since: float) -> list[dict[str, Any]]:
    items = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate",
                                      StartDate=datetime.fromtimestamp(since - 1)).get("AlarmHistoryItems", [])
    out = []
    for item in items:
        data = json.loads(item.get("HistoryData") or "{}")
        out.append({"at": item["Timestamp"].timestamp(), "from": data.get("oldState", {}).get("stateValue"),
                    "to": data.get("newState", {}).get("stateValue"), "summary": item.get("HistorySummary")})
    return sorted(out, key=lambda u: u["at"])


def _notification_checks(name: str, note: dict[str, Any] | None, state: str, period: int) -> list[Check]:
    if note is None:
        return [Check(f"{state} notification on the subscribed queue", False,
                      f"no {state} notification of {name} arrived")]
    reason = note.get("NewStateReason") or ""
    good = note.get("AlarmName") == name and bool(reason) and note.get("_subject", "").startswith(f'{state}: "{name}"')
    return [Check(f"{state} notification on the subscribed queue", good,
                  f"AlarmName {note.get('AlarmName')}, subject {note.get('_subject')!r}, reason {reason[:160]!r}")]


class _Faults:
    def __init__(self, endpoint: str) -> None:
        self.url = endpoint.rstrip("/") + "/_sfn_callback/faults"

    def arm(self, spec: dict[str, Any]) -> int:
        resp = httpx.post(self.url, json=spec, timeout=10)
        resp.raise_for_status()
        return int(resp.json()["fault"]["id"])

    def fired(self, fault_id: int) -> list[dict[str, Any]]:
        doc = httpx.get(self.url, timeout=10).json()
        return [f for f in doc.get("fired", []) if f.get("id") == fault_id]

    def disarm(self, fault_id: int) -> None:
        try:
            httpx.delete(self.url, params={"id": fault_id}, timeout=10)
        except httpx.HTTPError:
            pass


def _local_only(name: str, expected: str, target: Target, started: float) -> ScenarioResult | None:
    if target.is_local:
        return None
    return ScenarioResult(name, expected, [Check("local target", False, "needs the local cloud's fault injection "
                                                  "and 10-second alarm periods")],
                          duration_s=round(time.monotonic() - started, 3))


class CallbackFailuresScenario:
    name = "alarm-callback-failures"
    description = ("SendTaskSuccess of poc-poller refused twice (fault injection): CallbackFailureRate goes to "
                   "ALARM within two periods, notifies poc-alerts, the workflow still succeeds, the alarm clears")
    expected = "CallbackFailureRate ALARM then OK, both notified; the execution SUCCEEDED with one callback"

    def run(self, target: Target, options: RunOptions,
            progress: Callable[[ProgressRows], None] | None = None) -> ScenarioResult:
        from sfn_callback.poc.scenarios import Expectation, PocObserver, PocScenario

        started = time.monotonic()
        alarm = n.ALARM_CALLBACK_FAILURE_RATE
        early = _local_only(self.name, self.expected, target, started)
        if early:
            return early
        cw = client("cloudwatch", target)
        period = alarm_period(cw, alarm)
        if period is None:
            return ScenarioResult(self.name, self.expected, [Check("alarm deployed", False, f"no alarm {alarm}")])
        checks: list[Check] = []
        rows: dict[str, Any] = {"alarm": alarm, "state": alarm_state(cw, alarm), "execution": "-", "faults fired": 0}
        faults = _Faults(target.endpoint_url or "")
        observer = PocObserver(target)
        data: dict[str, Any] = {"alarm": alarm, "period": period}
        fault_id: int | None = None
        try:
            with AlertInbox(target, "callbacks") as inbox:
                quiet = wait_quiet(cw, alarm, 5 * period)
                checks.append(Check("alarm OK and no failing callbacks before the fault", quiet,
                                    f"state {alarm_state(cw, alarm)}, breaching data in the evaluation range: "
                                    f"{breaching_recently(cw, alarm)}"))
                armed_at = time.time()
                fault_id = faults.arm({"operation": "SendTaskSuccess", "caller": config.POLLER_FUNCTION,
                                       "count": FAULT_COUNT, "error": FAULT_ERROR,
                                       "message": "not authorized to perform: states:SendTaskSuccess"})
                job = PocScenario(self.name, "", {"completeAfterChecks": 1},
                                  Expectation("SUCCESS", None, "COMPLETED"), timeout_intervals=60)
                jobs = observer.start(self.name, [job.execution_input(options.interval_seconds, f"{self.name}-1")])

                def tick() -> None:
                    observer.refresh(jobs)
                    rows.update(state=alarm_state(cw, alarm), execution=jobs[0].status,
                                **{"faults fired": len(faults.fired(fault_id or 0))})
                    if progress:
                        progress([dict(rows)])

                data["faultArmedSeconds"] = round(time.monotonic() - started, 1)
                in_alarm = inbox.wait(alarm, "ALARM", 4 * period + 15, tick, after=armed_at)
                wait_until(lambda: len(faults.fired(fault_id or 0)) >= FAULT_COUNT, 15)
                data["alarmSeenSeconds"] = round(time.monotonic() - started, 1)
                fired = faults.fired(fault_id)
                checks.append(Check("callbacks refused", len(fired) == FAULT_COUNT,
                                    f"{len(fired)} SendTaskSuccess calls of {config.POLLER_FUNCTION} answered "
                                    f"{FAULT_ERROR}"))
                checks += _notification_checks(alarm, in_alarm, "ALARM", period)
                if in_alarm is not None and fired:
                    delay = _epoch(in_alarm["StateChangeTime"]) - fired[0]["at"]
                    data["alarmAfterSeconds"] = round(delay, 1)
                    checks.append(Check("ALARM within two periods of the first failure", 0 <= delay <= 2 * period,
                                        f"{delay:.1f} s after the first refused callback (period {period} s)"))
                settled = observer.wait_settled(jobs, options.timeout_seconds, None)
                events = jobs[0].events
                data["failedJobSettledSeconds"] = round(time.monotonic() - started, 1)
                succeeded = [e for e in events if e.get("type") == "TaskSucceeded"]
                checks.append(Check("nothing lost: the workflow resumed once", settled and jobs[0].status ==
                                    "SUCCEEDED" and len(succeeded) == 1 and jobs[0].record_status == "COMPLETED",
                                    f"execution {jobs[0].status}, {len(succeeded)} TaskSucceeded, record "
                                    f"{jobs[0].record_status}"))
                # Recovery: callbacks flow again. A second job's callback goes through; its period's failure
                # rate (0 %) is the newest data point, so the next evaluation is OK (without it, OK would wait
                # for the breaching point to leave the evaluation range, EvaluationPeriods + 2 periods).
                recovery = observer.start(f"{self.name}-ok", [job.execution_input(options.interval_seconds,
                                                                                  f"{self.name}-2")])
                jobs += recovery
                back_ok = inbox.wait(alarm, "OK", 4 * period + 15, tick, after=armed_at)
                data["okSeenSeconds"] = round(time.monotonic() - started, 1)
                observer.wait_settled(recovery, options.timeout_seconds, None)
                checks.append(Check("recovery: the next callback goes through", recovery[0].status == "SUCCEEDED"
                                    and recovery[0].record_status == "COMPLETED",
                                    f"execution {recovery[0].status}, record {recovery[0].record_status}"))
                checks += _notification_checks(alarm, back_ok, "OK", period)
                updates = state_updates(cw, alarm, started_wall(started))
                data["history"] = updates
                path = [u["to"] for u in updates]
                checks.append(Check("history: ALARM then OK", "ALARM" in path and "OK" in path[path.index("ALARM"):]
                                    if "ALARM" in path else False, " -> ".join(path) or "no state updates"))
                failures = _metric_sum(cw, n.NAMESPACE, n.CALLBACK_FAILURE, n.POLLER, started)
                checks.append(Check("CallbackFailure metric counts the refused callbacks", failures >= FAULT_COUNT,
                                    f"Sum {failures:g} for {n.COMPONENT_DIMENSION}={n.POLLER}"))
                data["executions"] = [j.execution_arn for j in jobs]
                data["notifications"] = [{k: d.get(k) for k in ("AlarmName", "NewStateValue", "NewStateReason",
                                                                 "StateChangeTime")} for d in inbox.notifications
                                         if d.get("AlarmName") == alarm]
        except ClientError as exc:
            checks.append(Check("stack deployed", False, f"{exc.response.get('Error', {}).get('Code')}: {exc}"))
        finally:
            if fault_id is not None:
                faults.disarm(fault_id)
            observer.close()
        return ScenarioResult(self.name, self.expected, checks, jobs=[rows],
                              duration_s=round(time.monotonic() - started, 3), data=data)


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_EVERY)
    return True


def started_wall(monotonic_start: float) -> float:
    return time.time() - (time.monotonic() - monotonic_start)


def _metric_sum(cw: Any, namespace: str, metric: str, component: str, started: float) -> float:
    start = datetime.fromtimestamp(started_wall(started) - 60)
    points = cw.get_metric_statistics(Namespace=namespace, MetricName=metric, StartTime=start,
                                      EndTime=datetime.fromtimestamp(time.time() + 60), Period=60,
                                      Statistics=["Sum"],
                                      Dimensions=[{"Name": n.COMPONENT_DIMENSION, "Value": component}])
    return sum(p["Sum"] for p in points.get("Datapoints", []))


class DlqScenario:
    name = "alarm-dlq"
    description = ("a poisoned message on poc-approval-requests ends in its DLQ: DeadLetterQueueNotEmpty fires "
                   "and notifies poc-alerts; the message taken off the DLQ, the alarm clears")
    expected = "DeadLetterQueueNotEmpty-poc-approval-requests-dlq ALARM then OK, both notified"

    def run(self, target: Target, options: RunOptions,
            progress: Callable[[ProgressRows], None] | None = None) -> ScenarioResult:
        started = time.monotonic()
        queue, dlq = config.APPROVAL_QUEUE, config.APPROVAL_DLQ
        alarm = n.dlq_alarm(dlq)
        early = _local_only(self.name, self.expected, target, started)
        if early:
            return early
        cw, sqs = client("cloudwatch", target), client("sqs", target)
        period = alarm_period(cw, alarm)
        if period is None:
            return ScenarioResult(self.name, self.expected, [Check("alarm deployed", False, f"no alarm {alarm}")])
        checks: list[Check] = []
        data: dict[str, Any] = {"alarm": alarm, "period": period}
        rows: dict[str, Any] = {"alarm": alarm, "state": alarm_state(cw, alarm), "message": "-"}
        marker = f"poisoned-{uuid.uuid4().hex[:10]}"
        try:
            queue_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            dlq_url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
            visibility = sqs.get_queue_attributes(QueueUrl=queue_url,
                                                  AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"]
            with AlertInbox(target, "dlq") as inbox:
                checks.append(Check("alarm not in ALARM before the message", wait_not_alarm(cw, alarm, 3 * period),
                                    f"state {alarm_state(cw, alarm)} (a DLQ holding older messages keeps it in "
                                    "ALARM)"))
                sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "1"})
                try:
                    # A receive takes the queue's visibility timeout when it starts: let the consumer's
                    # long poll in progress (1 s locally) end first.
                    time.sleep(1.5)
                    sent_at = time.time()
                    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"poisoned": marker}))
                    dead: list[dict[str, Any]] = []

                    def tick() -> None:
                        rows.update(state=alarm_state(cw, alarm))
                        if not dead:
                            attrs = sqs.get_queue_attributes(
                                QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
                            if int(attrs.get("ApproximateNumberOfMessages", 0)):
                                dead.append({"at": time.time()})
                                rows["message"] = "in the DLQ"
                        if progress:
                            progress([dict(rows)])

                    in_alarm = inbox.wait(alarm, "ALARM", 6 * period + 20, tick, after=sent_at)
                    data["alarmSeenSeconds"] = round(time.monotonic() - started, 1)
                finally:
                    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": visibility})
                checks.append(Check("poisoned message moved to the DLQ", bool(dead),
                                    f"after {dead[0]['at'] - sent_at:.1f} s" if dead else "never seen in the DLQ"))
                checks += _notification_checks(alarm, in_alarm, "ALARM", period)
                if in_alarm is not None:
                    data["alarmAfterSeconds"] = round(_epoch(in_alarm["StateChangeTime"]) - sent_at, 1)
                # Take our message off the DLQ (others are left alone): the alarm clears.
                removed = _remove_from(sqs, dlq_url, marker, 15)
                checks.append(Check("message taken off the DLQ", removed, f"body with {marker}"))
                back_ok = inbox.wait(alarm, "OK", 6 * period + 20, tick, after=sent_at) if removed else None
                data["okSeenSeconds"] = round(time.monotonic() - started, 1)
                checks += _notification_checks(alarm, back_ok, "OK", period)
                data["history"] = state_updates(cw, alarm, started_wall(started))
                data["visibilityTimeoutRestored"] = visibility
        except ClientError as exc:
            checks.append(Check("stack deployed", False, f"{exc.response.get('Error', {}).get('Code')}: {exc}"))
        return ScenarioResult(self.name, self.expected, checks, jobs=[rows],
                              duration_s=round(time.monotonic() - started, 3), data=data)


def _remove_from(sqs: Any, url: str, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     VisibilityTimeout=2).get("Messages", []):
            if marker in m["Body"]:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                return True
    return False


register(CallbackFailuresScenario())
register(DlqScenario())
