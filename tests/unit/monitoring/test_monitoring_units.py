"""The monitoring helper, the metered adapters and the monitoring stack spec, as pure logic (fakes only here;
the real path, Lambda to CloudWatch Logs to metrics, is tested in tests/integration/monitoring)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.deploy.manifest import terraform_context
from sfn_callback.deploy.spec import Alarm, Dashboard, Queue, StackContext, Topic
from sfn_callback.deploy.stack import build_stack
from sfn_callback.metrics import components, emit
from sfn_callback.metrics import names as n
from sfn_callback.metrics.callbacks import MeteredTaskCallbacks
from sfn_callback.monitoring.token_metrics import Waiting, summarize


def metered(sfn, component):
    """The callback core on a fake client (no pauses between its retries), with its metrics."""
    return MeteredTaskCallbacks(StepFunctionsCallbacks(sfn, sleep=lambda _: None), component)


@pytest.fixture
def published():
    docs: list[dict] = []
    emit.set_publisher(docs.append)
    yield docs
    emit.set_publisher(None)


def metrics_of(docs):
    """{(metric, frozenset(dimensions)): [values]} from EMF documents."""
    out: dict = {}
    for doc in docs:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == n.NAMESPACE
        dims = frozenset((d, doc[d]) for d in directive["Dimensions"][0])
        for m in directive["Metrics"]:
            value = doc[m["Name"]]
            out.setdefault((m["Name"], dims), []).extend(value if isinstance(value, list) else [value])
    return out


def test_emit_writes_a_powertools_emf_document_with_the_component_as_service(published):
    emit.emit("poller", {n.POLLS: ("Count", 1), n.CALLBACK_LATENCY: ("Milliseconds", 12.5)}, {"Outcome": "X"})
    doc = published[0]
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert sorted(directive["Dimensions"][0]) == ["Outcome", "service"]
    assert doc["service"] == "poller" and doc["Polls"] == [1.0] and doc["CallbackLatencyMs"] == [12.5]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {"Polls": "Count", "CallbackLatencyMs": "Milliseconds"}


def test_a_failing_publisher_never_breaks_the_callback(caplog):
    def broken(doc):
        raise ConnectionError("CloudWatch Logs is down")

    class Sfn:
        calls = 0

        def send_task_success(self, **kwargs):
            Sfn.calls += 1

    emit.set_publisher(broken)
    try:
        result = metered(Sfn(), n.POLLER).succeed("token", {"ok": True})
    finally:
        emit.set_publisher(None)
    assert result.delivered and Sfn.calls == 1
    assert "metrics not published (ConnectionError" in caplog.text


def test_metered_callbacks_count_outcomes_and_errors_and_keep_the_result(published):
    from botocore.exceptions import ClientError

    class Sfn:
        def __init__(self, code=None):
            self.code = code

        def send_task_success(self, **kwargs):
            if self.code:
                raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "SendTaskSuccess")

        send_task_failure = send_task_success

    assert metered(Sfn(), n.SWEEP).succeed("t", {"ok": True}).delivered
    assert metered(Sfn(), n.SWEEP).fail("t", "JobFailed", "x").delivered
    finished = metered(Sfn("TaskTimedOut"), n.SWEEP).succeed("t", {"ok": True})
    assert finished.token_finished and finished.code == "TaskTimedOut"
    refused = metered(Sfn("AccessDeniedException"), n.SWEEP).succeed("t", {"ok": True})
    assert refused.refused and refused.code == "AccessDeniedException"  # the result keeps the error
    got = metrics_of(published)
    svc = ("service", n.SWEEP)
    assert got[(n.CALLBACK_SUCCESS, frozenset({svc}))] == [1.0, 1.0]
    assert got[(n.CALLBACK_FAILURE, frozenset({svc}))] == [1.0]
    assert got[(n.CALLBACK_ERRORS, frozenset({svc, ("ErrorType", "AccessDeniedException")}))] == [1.0]
    outcomes = {dict(d)["Outcome"]: len(v) for (m, d), v in got.items() if m == n.CALLBACKS}
    assert outcomes == {n.OUTCOME_SUCCEEDED: 1, n.OUTCOME_FAILED: 1, n.OUTCOME_FINISHED: 1, n.OUTCOME_ERROR: 1}
    assert len(got[(n.CALLBACK_LATENCY, frozenset({svc}))]) == 4


def test_metered_poll_and_create_job(published):
    components.metered_poll(n.POLLER, lambda: {"status": "POLLING", "attempt": 1})
    components.metered_poll(n.POLLER, lambda: {"status": "POLLING", "skipped": True})
    components.metered_poll(n.POLLER, lambda: {"status": "COMPLETED", "reconnected": True})
    with pytest.raises(RuntimeError):
        components.metered_poll(n.POLLER, lambda: (_ for _ in ()).throw(RuntimeError("boom")))

    class InvalidEvent(ValueError):
        pass

    components.metered_create_job(n.CREATE_JOB, lambda: {"jobId": "j"})
    with pytest.raises(InvalidEvent):
        components.metered_create_job(n.CREATE_JOB, lambda: (_ for _ in ()).throw(InvalidEvent("bad")))
    got = metrics_of(published)
    poller = frozenset({("service", n.POLLER)})
    assert sum(sum(v) for (m, d), v in got.items() if m == n.POLLS and d == poller) == 4
    assert got[(n.POLL_ATTEMPTS, poller)] == [1.0, 1.0] and got[(n.POLLS_SKIPPED, poller)] == [1.0]
    assert got[(n.POLLER_ERRORS, poller)] == [1.0] and len(got[(n.RECONNECT_LATENCY, poller)]) == 1
    assert got[(n.JOBS_CREATED, frozenset({("service", n.CREATE_JOB)}))] == [1.0]
    assert got[(n.JOBS_REJECTED, frozenset({("service", n.CREATE_JOB), ("ErrorType", "InvalidEvent")}))] == [1.0]


def test_decisions_conflicts_and_late_decisions(published):
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    components.decision(n.APPROVAL_SERVICE, "DECIDED", "APPROVE", t0, t0 + timedelta(seconds=42))
    components.decision(n.APPROVAL_SERVICE, "ALREADY_DECIDED", "REJECT", t0, t0)
    components.decision(n.APPROVAL_SERVICE, "CLOSED", "APPROVE", t0, t0)
    components.decision(n.APPROVAL_SERVICE, "NOT_FOUND", "APPROVE", None, None)
    got = metrics_of(published)
    svc = ("service", n.APPROVAL_SERVICE)
    assert got[(n.DECISIONS, frozenset({svc, ("Decision", "approve")}))] == [1.0]
    assert got[(n.TIME_TO_DECISION, frozenset({svc}))] == [42.0]
    assert got[(n.DECISION_CONFLICTS, frozenset({svc}))] == [1.0]
    assert got[(n.LATE_DECISIONS, frozenset({svc}))] == [1.0]
    assert len(published) == 4


def test_waiting_tokens_summary():
    now = datetime(2027, 1, 1, 12, tzinfo=UTC)
    records = [Waiting(now - timedelta(seconds=30), now + timedelta(seconds=30)),
               Waiting(now - timedelta(seconds=90), now - timedelta(seconds=1)),
               Waiting(now - timedelta(seconds=5), None)]
    s = summarize(records, now)
    assert (s.waiting, s.oldest_age_seconds, s.past_timeout) == (3, 90.0, 1)
    assert summarize([], now).to_dict() == {n.TOKENS_WAITING: 0, n.OLDEST_TOKEN_AGE: 0.0, n.TOKENS_PAST_TIMEOUT: 0}


@pytest.mark.parametrize("local", [True, False])
def test_monitoring_stack_alarms_every_dlq_and_state_machine_and_notifies_the_topic(local):
    ctx = StackContext("111122223333", "eu-west-1", local)
    stack = build_stack(ctx)
    alarms = {r.name: r for r in stack.resources if isinstance(r, Alarm)}
    dlqs = {r.dlq for r in stack.resources if isinstance(r, Queue) and r.dlq}
    machines = {ctx.state_machine_arn(r.name) for r in stack.find("state-machine")}
    assert dlqs and {n.dlq_alarm(q) for q in dlqs} <= set(alarms)
    timeouts = alarms[n.ALARM_STEP_FUNCTION_TIMEOUTS]
    assert {dict(q.dimensions).get("StateMachineArn") for q in timeouts.queries if q.metric_name} == machines
    topic = ctx.topic_arn(n.ALERTS_TOPIC)
    for alarm in alarms.values():
        props = alarm.properties(ctx)
        assert props["alarmActions"] == [topic] == props["okActions"] and props["treatMissingData"] == "notBreaching"
    rate = alarms[n.ALARM_CALLBACK_FAILURE_RATE].properties(ctx)
    assert rate["threshold"] == 5.0 and rate["comparison"] == "GreaterThanThreshold"
    assert [q["id"] for q in rate["queries"] if q["returnData"]] == ["rate"]
    assert {q["period"] for q in rate["queries"] if "period" in q} == ({10} if local else {300})
    assert {q.period for q in timeouts.queries if q.period} == ({10} if local else {3600})
    assert [r.name for r in stack.resources if isinstance(r, Topic)] == [n.ALERTS_TOPIC]
    board = next(r for r in stack.resources if isinstance(r, Dashboard))
    assert board.name == n.DASHBOARD
    body = json.loads(board.body)
    listed = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    assert {a.rsplit(":", 1)[1] for a in listed} == set(alarms)
    schedule = next(r for r in stack.find("schedule") if r.function == n.TOKEN_METRICS_FUNCTION)
    assert schedule.expression == ("rate(5 seconds)" if local else "rate(1 minute)")


def test_manifest_builds_with_the_monitoring_sections():
    from sfn_callback.deploy import manifest as mf

    doc = mf.build_manifest(build_stack(terraform_context(target="aws")))
    assert set(doc["alarms"]) >= {n.ALARM_CALLBACK_FAILURE_RATE, n.ALARM_STEP_FUNCTION_TIMEOUTS}
    assert doc["alarms"][n.ALARM_CALLBACK_FAILURE_RATE]["topic"] in doc["topics"]
