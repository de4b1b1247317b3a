"""Helpers of the dashboard's tests: the dashboard served by the real command (``sfn-callback dashboard`` in a
subprocess), PoC jobs that wait on their task token, and an alarm driven to ALARM by the local cloud's evaluator,
notifying a topic that a queue subscribes to. Imported as ``from dashboard_support import ...``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from sfn_callback import config
from sfn_callback.localcloud import process
from support import wait_for

CALLBACK_ARN = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.CALLBACK_WORKFLOW}"
APPROVAL_ARN = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.APPROVAL_WORKFLOW}"


@dataclass
class Dashboard:
    url: str
    pid: int
    log_path: str

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60)

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()


def serve_dashboard(endpoint: str, log_path: str, *extra: str) -> Dashboard:
    """``sfn-callback --endpoint ENDPOINT dashboard --port P`` in a subprocess, once it answers /health."""
    port = process.free_port()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sfn_callback.cli.main", "--endpoint", endpoint, "dashboard",
                                 "--port", str(port), *extra], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ})
    dashboard = Dashboard(f"http://127.0.0.1:{port}", proc.pid, log_path)

    def up() -> bool:
        assert proc.poll() is None, f"the dashboard exited: {dashboard.log_text()}"
        try:
            return httpx.get(dashboard.url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, interval=0.2, what="the dashboard answering /health")
    dashboard.proc = proc  # type: ignore[attr-defined]
    return dashboard


def stop_dashboard(dashboard: Dashboard) -> None:
    proc = dashboard.proc  # type: ignore[attr-defined]
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class Jobs:
    """PoC executions whose jobs never complete (they wait on their task token), stopped at the end."""

    def __init__(self, cloud: Any) -> None:
        self.sfn = cloud.client("stepfunctions")
        self.ddb = cloud.client("dynamodb")
        self.started: list[str] = []

    def start_waiting(self, interval_seconds: int = 30) -> str:
        body = {"record": {"id": "dashboard", "data": {}},
                "pollingConfig": {"intervalSeconds": interval_seconds, "maxAttempts": 100,
                                  "timeoutSeconds": 4 * interval_seconds, "jobOptions": {"neverComplete": True}},
                "taskTimeoutSeconds": 5 * interval_seconds}
        arn = self.sfn.start_execution(stateMachineArn=CALLBACK_ARN, name=f"dash-{uuid.uuid4().hex[:10]}",
                                       input=json.dumps(body))["executionArn"]
        self.started.append(arn)
        return arn

    def start_approval(self) -> tuple[str, str]:
        """An approval workflow waiting for a person's decision: (orderId, execution ARN)."""
        order = f"o-dash-{uuid.uuid4().hex[:8]}"
        arn = self.sfn.start_execution(stateMachineArn=APPROVAL_ARN, name=order,
                                       input=json.dumps({"orderId": order}))["executionArn"]
        self.started.append(arn)
        return order, arn

    def approval_item(self, order: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: self.ddb.get_item(TableName=config.APPROVALS_TABLE, Key={"orderId": {"S": order}},
                                                  ConsistentRead=True).get("Item"),
                        timeout=timeout, interval=0.3, what=f"approval task {order} stored")

    def record(self, execution_arn: str, timeout: float = 30) -> dict[str, Any]:
        """The token record create-job stored for the execution."""
        def find() -> dict[str, Any] | None:
            items = self.ddb.scan(TableName=config.TOKENS_TABLE, FilterExpression="executionId = :e",
                                  ExpressionAttributeValues={":e": {"S": execution_arn}}, ConsistentRead=True)["Items"]
            return items[0] if items else None
        item = wait_for(find, timeout=timeout, interval=0.3, what=f"token record of {execution_arn}")
        return {k: list(v.values())[0] for k, v in item.items()}

    def running(self) -> int:
        count = 0
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=CALLBACK_ARN,
                                                                     statusFilter="RUNNING"):
            count += len(page["executions"])
        return count

    def stop_all(self) -> None:
        for arn in self.started:
            try:
                self.sfn.stop_execution(executionArn=arn, error="DashboardTestDone")
            except Exception:  # already ended
                pass


@dataclass
class Alarm:
    name: str
    topic_arn: str
    queue_url: str
    namespace: str
    cw: Any

    def state(self) -> str:
        return self.cw.describe_alarms(AlarmNames=[self.name])["MetricAlarms"][0]["StateValue"]

    def wait_alarm(self, timeout: float = 40) -> None:
        wait_for(lambda: self.state() == "ALARM", timeout=timeout, interval=0.5, what=f"alarm {self.name} in ALARM")

    def delete(self, cloud: Any) -> None:
        cloud.client("cloudwatch").delete_alarms(AlarmNames=[self.name])
        cloud.client("sns").delete_topic(TopicArn=self.topic_arn)
        cloud.client("sqs").delete_queue(QueueUrl=self.queue_url)


def alarm_in_alarm(cloud: Any, prefix: str, treat_missing: str = "ignore") -> Alarm:
    """A 10-second alarm on a metric of its own, notifying a topic that a queue subscribes to, that the local
    cloud's evaluator puts in ALARM at the end of the current period (a breaching value is published now, or,
    with ``treat_missing="breaching"``, none); :meth:`Alarm.wait_alarm` waits for it."""
    suffix = uuid.uuid4().hex[:8]
    sns, sqs, cw = cloud.client("sns"), cloud.client("sqs"), cloud.client("cloudwatch")
    topic = sns.create_topic(Name=f"{prefix}-alerts-{suffix}")["TopicArn"]
    url = sqs.create_queue(QueueName=f"{prefix}-alerts-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    name = f"{prefix}-callback-errors-{suffix}"
    namespace = f"SfnCallback/Test{suffix}"
    cw.put_metric_alarm(AlarmName=name, AlarmDescription="callbacks failing", Namespace=namespace,
                        MetricName="CallbackErrors", Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData=treat_missing,
                        AlarmActions=[topic])
    if treat_missing != "breaching":
        cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "CallbackErrors", "Value": 4,
                                                             "Unit": "Count"}])
    return Alarm(name, topic, url, namespace, cw)
