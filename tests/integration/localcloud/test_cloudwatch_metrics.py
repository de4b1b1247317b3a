"""CloudWatch metrics on the local cloud, through boto3 and the aws CLI: EMF from a Powertools Lambda,
AWS/States from executions, AWS/SQS from a queue's depth."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from monitoring_support import aws, health, iso

from support import wait_execution, wait_for

pytestmark = pytest.mark.cloud

POWERTOOLS_HANDLER = '''
import os
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics(namespace=os.environ["NAMESPACE"], service="poller")

@metrics.log_metrics
def handler(event, context):
    metrics.add_dimension(name="Outcome", value=event["outcome"])
    for latency in event["latencies"]:
        metrics.add_metric(name="CallbackLatency", unit=MetricUnit.Milliseconds, value=latency)
    metrics.add_metric(name="Callbacks", unit=MetricUnit.Count, value=1)
    return {"ok": True}
'''


def emf_lines(local_cloud, function: str) -> list[str]:
    """The EMF documents the function printed, as the local cloud's log shows its output."""
    prefix = f"[{function}] "
    return [line.split(prefix, 1)[1] for line in local_cloud.log_text().splitlines()
            if prefix in line and '"_aws"' in line]


def test_emf_from_a_powertools_lambda_becomes_metrics(local_cloud, make_function):
    namespace, function = f"LcEmf/{uuid.uuid4().hex[:8]}", f"lc-emf-{uuid.uuid4().hex[:6]}"
    make_function(function, POWERTOOLS_HANDLER, env={"NAMESPACE": namespace})
    lam, logs = local_cloud.client("lambda"), local_cloud.client("logs")
    started = time.time()
    for event in ({"outcome": "success", "latencies": [10, 20, 30]}, {"outcome": "success", "latencies": [40]},
                  {"outcome": "failure", "latencies": [500]}):
        assert lam.invoke(FunctionName=function, Payload=json.dumps(event))["StatusCode"] == 200
    lines = wait_for(lambda: len(emf_lines(local_cloud, function)) == 3 and emf_lines(local_cloud, function),
                     timeout=10, what="three EMF lines in the function's output")
    group = f"/aws/lambda/{function}"
    try:  # a local cloud that writes function output to CloudWatch Logs, as Lambda does, has the group by now
        wait_for(lambda: logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"], timeout=5,
                 what="the function's log group")
    except AssertionError:  # it does not: write the function's EMF lines into its log group as Lambda would
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="2027/01/01/[$LATEST]manual")
        now_ms = int(time.time() * 1000)
        logs.put_log_events(logGroupName=group, logStreamName="2027/01/01/[$LATEST]manual",
                            logEvents=[{"timestamp": now_ms, "message": line} for line in lines])
    cw = local_cloud.client("cloudwatch")
    wait_for(lambda: sum(p["SampleCount"] for p in cw.get_metric_statistics(
        Namespace=namespace, MetricName="Callbacks", StartTime=started - 120, EndTime=time.time() + 60, Period=300,
        Statistics=["SampleCount"], Dimensions=[{"Name": "service", "Value": "poller"},
                                               {"Name": "Outcome", "Value": "success"}])["Datapoints"]) == 2,
             timeout=10, what="the metrics of the two successful invocations")

    listed = aws(local_cloud, "cloudwatch", "list-metrics", "--namespace", namespace)["Metrics"]
    assert sorted((m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
                  for m in listed) == [
        ("CallbackLatency", (("Outcome", "failure"), ("service", "poller"))),
        ("CallbackLatency", (("Outcome", "success"), ("service", "poller"))),
        ("Callbacks", (("Outcome", "failure"), ("service", "poller"))),
        ("Callbacks", (("Outcome", "success"), ("service", "poller")))]
    window = ["--start-time", iso(started - 120), "--end-time", iso(time.time() + 60), "--period", "300"]
    success = ["Name=service,Value=poller", "Name=Outcome,Value=success"]
    latency = aws(local_cloud, "cloudwatch", "get-metric-statistics", "--namespace", namespace, "--metric-name",
                  "CallbackLatency", "--dimensions", *success, "--statistics", "Sum", "SampleCount", "Average",
                  "Maximum", "Minimum", *window)["Datapoints"]
    assert [(p["SampleCount"], p["Sum"], p["Average"], p["Minimum"], p["Maximum"], p["Unit"]) for p in latency] == [
        (4.0, 100.0, 25.0, 10.0, 40.0, "Milliseconds")]
    p90 = aws(local_cloud, "cloudwatch", "get-metric-statistics", "--namespace", namespace, "--metric-name",
              "CallbackLatency", "--dimensions", *success, "--extended-statistics", "p90", *window)["Datapoints"]
    assert p90[0]["ExtendedStatistics"] == {"p90": 40.0}
    # A subset of the dimensions is another metric: nothing, as on AWS.
    assert aws(local_cloud, "cloudwatch", "get-metric-statistics", "--namespace", namespace, "--metric-name",
               "CallbackLatency", "--dimensions", "Name=service,Value=poller", "--statistics", "Sum",
               *window)["Datapoints"] == []


def test_an_invalid_emf_document_publishes_nothing_and_is_counted(local_cloud):
    logs, cw = local_cloud.client("logs"), local_cloud.client("cloudwatch")
    group, namespace = f"/lc/emf-invalid-{uuid.uuid4().hex[:6]}", f"LcEmfBad/{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now_ms = int(time.time() * 1000)
    bad = {"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [["fn"]],
                                                               "Metrics": [{"Name": "Calls"}]}]},
           "fn": "a", "Calls": list(range(101))}
    good = {**bad, "Calls": 2}
    answer = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now_ms, "message": json.dumps(bad)}, {"timestamp": now_ms, "message": json.dumps(good)},
        {"timestamp": now_ms, "message": '{"_aws": {"broken"'}])
    assert "rejectedLogEventsInfo" not in answer  # the writer sees no error
    stored = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert len(stored) == 3  # the events are kept as written
    window = {"StartTime": now_ms / 1000 - 120, "EndTime": now_ms / 1000 + 60, "Period": 60}
    calls = cw.get_metric_statistics(Namespace=namespace, MetricName="Calls", Dimensions=[{"Name": "fn", "Value": "a"}],
                                     Statistics=["Sum", "SampleCount"], **window)["Datapoints"]
    assert [(p["Sum"], p["SampleCount"]) for p in calls] == [(2.0, 1.0)]  # only the valid document
    for name in ("EMFValidationErrors", "EMFParsingErrors"):
        errors = cw.get_metric_statistics(Namespace="AWS/Logs", MetricName=name, Statistics=["Sum"],
                                          Dimensions=[{"Name": "LogGroupName", "Value": group}], **window)
        assert [p["Sum"] for p in errors["Datapoints"]] == [1.0], name
    assert re.search(rf"EMF document in {re.escape(group)} ignored \(validation error\): metric 'Calls' holds 101 "
                     "values, more than 100", local_cloud.log_text())
    assert health(local_cloud)["cloudwatch"]["emf"]["invalid"] >= 2


STATES_DEFINITION = {
    "StartAt": "Route", "TimeoutSeconds": 1,
    "States": {
        "Route": {"Type": "Choice", "Choices": [
            {"Variable": "$.do", "StringEquals": "succeed", "Next": "Done"},
            {"Variable": "$.do", "StringEquals": "fail", "Next": "Broken"}], "Default": "Linger"},
        "Done": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "Broken"},
        "Linger": {"Type": "Wait", "Seconds": 30, "End": True}}}


def test_executions_publish_aws_states_metrics(local_cloud):
    sfn = local_cloud.client("stepfunctions")
    machine = sfn.create_state_machine(name=f"lc-states-{uuid.uuid4().hex[:6]}", roleArn=local_cloud.role_arn(),
                                       definition=json.dumps(STATES_DEFINITION))["stateMachineArn"]
    started = time.time()
    arns = {}
    for name, do in (("s1", "succeed"), ("s2", "succeed"), ("f1", "fail"), ("t1", "linger"), ("a1", "linger")):
        arns[name] = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps({"do": do}))[
            "executionArn"]
    sfn.stop_execution(executionArn=arns["a1"])
    statuses = {name: wait_execution(sfn, arn, timeout=20)["status"] for name, arn in arns.items()}
    assert statuses == {"s1": "SUCCEEDED", "s2": "SUCCEEDED", "f1": "FAILED", "t1": "TIMED_OUT", "a1": "ABORTED"}

    dims = [{"Name": "StateMachineArn", "Value": machine}]
    queries = [{"Id": name.lower(), "MetricStat": {"Metric": {"Namespace": "AWS/States", "MetricName": name,
                                                              "Dimensions": dims}, "Period": 300, "Stat": "Sum"}}
               for name in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut",
                            "ExecutionsAborted")]
    queries += [{"Id": "time_count", "MetricStat": {"Metric": {"Namespace": "AWS/States", "MetricName": "ExecutionTime",
                                                               "Dimensions": dims}, "Period": 300,
                                                    "Stat": "SampleCount"}},
                {"Id": "time_max", "MetricStat": {"Metric": {"Namespace": "AWS/States", "MetricName": "ExecutionTime",
                                                             "Dimensions": dims}, "Period": 300, "Stat": "Maximum"}}]

    def sums() -> dict[str, float]:
        data = aws(local_cloud, "cloudwatch", "get-metric-data", "--metric-data-queries", json.dumps(queries),
                   "--start-time", iso(started - 600), "--end-time", iso(time.time() + 60))
        return {r["Id"]: sum(r["Values"]) for r in data["MetricDataResults"]}

    found = sums()
    assert {k: v for k, v in found.items() if k != "time_max"} == {
        "executionsstarted": 5, "executionssucceeded": 2, "executionsfailed": 1, "executionstimedout": 1,
        "executionsaborted": 1, "time_count": 5}
    assert 900 <= found["time_max"] < 15000  # the timed-out one ran about a second (ms)
    listed = aws(local_cloud, "cloudwatch", "list-metrics", "--namespace", "AWS/States", "--dimensions",
                 f"Name=StateMachineArn,Value={machine}")["Metrics"]
    assert {m["MetricName"] for m in listed} == {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                                                 "ExecutionsTimedOut", "ExecutionsAborted", "ExecutionTime"}


def test_a_queues_visible_messages_metric_follows_its_depth(local_cloud):
    sqs, cw = local_cloud.client("sqs"), local_cloud.client("cloudwatch")
    name = f"lc-depth-{uuid.uuid4().hex[:6]}"
    queue = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    started = time.time()
    for i in range(4):
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")
    dims = [{"Name": "QueueName", "Value": name}]

    def latest(metric: str, after: float) -> float | None:
        points = cw.get_metric_statistics(Namespace="AWS/SQS", MetricName=metric, Dimensions=dims,
                                          StartTime=started - 60, EndTime=time.time() + 60, Period=10,
                                          Statistics=["Maximum"])["Datapoints"]
        points = [p for p in points if p["Timestamp"].timestamp() >= after]
        return max(points, key=lambda p: p["Timestamp"])["Maximum"] if points else None

    sent_at = time.time()
    assert wait_for(lambda: latest("ApproximateNumberOfMessagesVisible", sent_at - 10) == 4, timeout=25,
                    what="a sample with 4 visible messages")
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=3)["Messages"]
    assert len(received) == 3
    received_at = time.time()
    wait_for(lambda: latest("ApproximateNumberOfMessagesNotVisible", received_at) == 3, timeout=25,
             what="a sample with 3 messages in flight")
    assert latest("ApproximateNumberOfMessagesVisible", received_at) == 1
    assert latest("ApproximateAgeOfOldestMessage", received_at) >= 1
    for message in received:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    deleted_at = time.time()
    wait_for(lambda: latest("ApproximateNumberOfMessagesNotVisible", deleted_at) == 0, timeout=25,
             what="a sample after the deletes")
    assert latest("ApproximateNumberOfMessagesVisible", deleted_at) == 1
    totals = {metric: sum(p["Sum"] for p in cw.get_metric_statistics(
        Namespace="AWS/SQS", MetricName=metric, Dimensions=dims, StartTime=started - 60, EndTime=time.time() + 60,
        Period=60, Statistics=["Sum"])["Datapoints"]) for metric in ("NumberOfMessagesSent",
                                                                     "NumberOfMessagesReceived",
                                                                     "NumberOfMessagesDeleted")}
    assert totals == {"NumberOfMessagesSent": 4, "NumberOfMessagesReceived": 3, "NumberOfMessagesDeleted": 3}
