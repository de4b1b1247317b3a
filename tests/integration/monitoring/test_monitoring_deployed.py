"""Monitoring through the real parts on the session's local cloud: metrics published by real Lambda
invocations (EMF lines in their CloudWatch Logs) and by the approval service (PutLogEvents), the deployed
alarms, topic and dashboard, the deployer's create / update / no-change / destroy of those kinds, and both
alarm scenarios."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sfn_callback import scenarios
from sfn_callback.approval.domain.model import Action
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer
from sfn_callback.deploy.spec import Alarm, Dashboard, MetricQuery, Stack, StackContext, Topic
from sfn_callback.metrics import names as n
from sfn_callback.poc.scenarios import wait_for

pytestmark = pytest.mark.cloud


@pytest.fixture(scope="module")
def stack_deployed(local_cloud):
    target = Target(endpoint_url=local_cloud.endpoint_url)
    Deployer(target).apply()
    again = Deployer(target).plan()
    assert not again.has_changes, [c.to_dict() for c in again.changes if c.action != "unchanged"]
    return target


def _listed(cw, namespace: str = n.NAMESPACE) -> set[tuple[str, frozenset]]:
    found = set()
    for page in cw.get_paginator("list_metrics").paginate(Namespace=namespace):
        for m in page["Metrics"]:
            found.add((m["MetricName"], frozenset((d["Name"], d["Value"]) for d in m["Dimensions"])))
    return found


def _sum(cw, metric: str, dims: dict[str, str], since: datetime) -> float:
    points = cw.get_metric_statistics(Namespace=n.NAMESPACE, MetricName=metric, Period=60, Statistics=["Sum"],
                                      StartTime=since, EndTime=datetime.now(UTC) + timedelta(minutes=1),
                                      Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()])
    return sum(p["Sum"] for p in points["Datapoints"])


def svc(component: str, **extra: str) -> frozenset:
    return frozenset({("service", component), *extra.items()})


def test_metrics_from_real_invocations_appear_with_their_dimensions(stack_deployed, local_cloud):
    cw, lam = local_cloud.client("cloudwatch"), local_cloud.client("lambda")
    since = datetime.now(UTC) - timedelta(seconds=5)
    result = scenarios.get("complete").run(stack_deployed, scenarios.RunOptions(), None)
    assert result.passed, [c for c in result.checks if not c.passed]
    bad = lam.invoke(FunctionName="poc-create-job", Payload=json.dumps({"taskToken": 5}).encode())
    assert bad.get("FunctionError")  # an invalid event: refused, counted by error type
    want = {
        (n.POLLS, svc(n.POLLER)), (n.POLL_ATTEMPTS, svc(n.POLLER)), (n.CALLBACK_SUCCESS, svc(n.POLLER)),
        (n.CALLBACK_LATENCY, svc(n.POLLER)), (n.RECONNECT_LATENCY, svc(n.POLLER)),
        (n.CALLBACKS, svc(n.POLLER, Outcome=n.OUTCOME_SUCCEEDED)), (n.JOBS_CREATED, svc(n.CREATE_JOB)),
        (n.JOBS_REJECTED, svc(n.CREATE_JOB, ErrorType="InvalidEvent")),
        (n.TOKENS_WAITING, svc(n.TOKEN_METRICS)), (n.OLDEST_TOKEN_AGE, svc(n.TOKEN_METRICS)),
        (n.TOKENS_PAST_TIMEOUT, svc(n.TOKEN_METRICS)),
    }
    wait_for(lambda: want <= _listed(cw), 30, every=1, what="the component metrics in ListMetrics")
    assert _sum(cw, n.CALLBACK_SUCCESS, {"service": n.POLLER}, since) >= 1
    assert _sum(cw, n.JOBS_CREATED, {"service": n.CREATE_JOB}, since) >= 1
    # The metrics come from the functions' own log streams, as on AWS.
    logs = local_cloud.client("logs")
    events = logs.filter_log_events(logGroupName="/aws/lambda/poc-poller", filterPattern='"CloudWatchMetrics"',
                                    startTime=int(since.timestamp() * 1000))["events"]
    assert any('"service":"poller"' in e["message"] for e in events)


def test_approval_decisions_are_published_by_the_service_process(approval_stack, approval_api, local_cloud):
    cw = local_cloud.client("cloudwatch")
    since = datetime.now(UTC) - timedelta(seconds=5)
    order, arn = approval_stack.start()
    approval_stack.wait_item(order)
    first = approval_api.service.decide(order, Action.APPROVE, "alice")
    second = approval_api.service.decide(order, Action.REJECT, "bob")
    assert (first.outcome.value, second.outcome.value) == ("DECIDED", "ALREADY_DECIDED")
    assert approval_stack.wait_done(arn)["status"] == "SUCCEEDED"
    want = {(n.DECISIONS, svc(n.APPROVAL_SERVICE, Decision="approve")), (n.TIME_TO_DECISION, svc(n.APPROVAL_SERVICE)),
            (n.DECISION_CONFLICTS, svc(n.APPROVAL_SERVICE)), (n.CALLBACK_SUCCESS, svc(n.APPROVAL_SERVICE)),
            (n.CALLBACKS, svc(n.APPROVAL_SERVICE, Outcome=n.OUTCOME_SUCCEEDED)),
            (n.APPROVAL_REQUESTS, svc(n.APPROVAL_CONSUMER))}
    wait_for(lambda: want <= _listed(cw), 20, every=1, what="the approval metrics in ListMetrics")
    assert _sum(cw, n.DECISION_CONFLICTS, {"service": n.APPROVAL_SERVICE}, since) >= 1


def test_deployed_alarms_topic_and_dashboard(stack_deployed, local_cloud):
    cw, sns = local_cloud.client("cloudwatch"), local_cloud.client("sns")
    topic = f"arn:aws:sns:us-east-1:000000000000:{n.ALERTS_TOPIC}"
    sns.get_topic_attributes(TopicArn=topic)
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    expected = {n.ALARM_CALLBACK_FAILURE_RATE, n.ALARM_STEP_FUNCTION_TIMEOUTS, n.ALARM_POLLER_ERRORS,
                n.ALARM_TOKEN_PAST_TIMEOUT, n.dlq_alarm("poc-approval-requests-dlq"), n.dlq_alarm("poc-export-jobs-dlq")}
    assert expected <= set(alarms)
    for name in expected:
        assert alarms[name]["AlarmActions"] == [topic] == alarms[name]["OKActions"], name
    rate = alarms[n.ALARM_CALLBACK_FAILURE_RATE]
    assert (rate["Threshold"], rate["ComparisonOperator"], rate["EvaluationPeriods"]) == (5.0, "GreaterThanThreshold", 1)
    expression = next(q for q in rate["Metrics"] if q.get("ReturnData"))["Expression"]
    assert expression.startswith("100 * SUM([f1")
    metrics = {(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
                q["MetricStat"]["Metric"]["Dimensions"][0]["Value"], q["MetricStat"]["Period"])
               for q in rate["Metrics"] if q.get("MetricStat")}
    assert (n.NAMESPACE, n.CALLBACK_FAILURE, n.POLLER, 10) in metrics
    assert (n.EXPORT_NAMESPACE, n.CALLBACK_SUCCESS, n.EXPORT, 10) in metrics
    timeouts = alarms[n.ALARM_STEP_FUNCTION_TIMEOUTS]
    watched = {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in timeouts["Metrics"] if q.get("MetricStat")}
    assert "arn:aws:states:us-east-1:000000000000:stateMachine:poc-callback-workflow" in watched
    dlq = alarms[n.dlq_alarm("poc-export-jobs-dlq")]
    assert (dlq["Namespace"], dlq["MetricName"], dlq["Statistic"], dlq["Period"]) == \
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 10)
    body = json.loads(cw.get_dashboard(DashboardName=n.DASHBOARD)["DashboardBody"])
    listed = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    assert {a.rsplit(":", 1)[1] for a in listed} >= expected


def test_deployer_creates_updates_and_destroys_topics_alarms_and_dashboards(local_cloud):
    target = Target(endpoint_url=local_cloud.endpoint_url)
    ctx = StackContext("000000000000", "us-east-1", local=True, stack_name=f"mon-{uuid.uuid4().hex[:6]}")
    suffix = uuid.uuid4().hex[:6]

    def stack(threshold: float, widget_title: str) -> Stack:
        s = Stack(ctx)
        topic = f"deploy-test-alerts-{suffix}"
        s.add(Topic(topic),
              Alarm(f"deploy-test-single-{suffix}", "one metric", "GreaterThanThreshold", threshold, 2, topic,
                    namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                    dimensions=(("QueueName", "q"),), statistic="Maximum", period=10),
              Alarm(f"deploy-test-math-{suffix}", "metric math", "GreaterThanThreshold", threshold + 1, 1, topic, queries=(
                  MetricQuery("a", namespace="T", metric_name="A", dimensions=(("service", "x"),), stat="Sum",
                              period=10),
                  MetricQuery("e", expression="a * 2", label="twice", return_data=True))),
              Dashboard(f"deploy-test-{suffix}", json.dumps({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6,
                        "height": 2, "properties": {"markdown": widget_title}}]})))
        return s

    first = Deployer(target, stack(0, "v1"))
    applied = first.apply()
    assert {(c.kind, c.action) for c in applied.applied} == {("topic", "create"), ("alarm", "create"),
                                                             ("dashboard", "create")}
    assert not Deployer(target, stack(0, "v1")).plan(detect_deletes=False).has_changes
    changed = Deployer(target, stack(3, "v2"))
    plan = changed.plan(detect_deletes=False)
    updates = {(c.kind, c.name): c.differences for c in plan.changes if c.action == "update"}
    assert updates == {("alarm", f"deploy-test-single-{suffix}"): ("threshold",),
                       ("alarm", f"deploy-test-math-{suffix}"): ("threshold",),
                       ("dashboard", f"deploy-test-{suffix}"): ("body",)}
    changed.apply(plan)
    assert not Deployer(target, stack(3, "v2")).plan(detect_deletes=False).has_changes
    cw = local_cloud.client("cloudwatch")
    assert cw.describe_alarms(AlarmNames=[f"deploy-test-math-{suffix}"])["MetricAlarms"][0]["Threshold"] == 4.0
    removed = changed.destroy()
    assert len(removed) == 4
    assert not cw.describe_alarms(AlarmNames=[f"deploy-test-single-{suffix}", f"deploy-test-math-{suffix}"])[
        "MetricAlarms"]
    assert f"deploy-test-{suffix}" not in {d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]}
    topics = {t["TopicArn"] for t in local_cloud.client("sns").list_topics()["Topics"]}
    assert not [t for t in topics if t.endswith(f"deploy-test-alerts-{suffix}")]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", ["alarm-callback-failures", "alarm-dlq"])
def test_alarm_scenarios_pass(stack_deployed, local_cloud, name):
    if name == "alarm-dlq":  # messages other tests left in the DLQ would keep its alarm in ALARM
        sqs = local_cloud.client("sqs")
        sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName="poc-approval-requests-dlq")["QueueUrl"])
    started = time.monotonic()
    result = scenarios.get(name).run(stack_deployed, scenarios.RunOptions(), None)
    failed = [(c.name, c.detail) for c in result.checks if not c.passed]
    assert result.passed, failed
    timings = {k: v for k, v in result.data.items() if k.endswith("Seconds")}
    print(f"{name}: {time.monotonic() - started:.1f} s, {timings}")
