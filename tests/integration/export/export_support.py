"""Fixtures and helpers of the export integration tests: the export service deployed to the session's local
cloud (its own stack only, nothing else touched). Test modules import the fixture by name (no conftest.py here,
so the root one is never shadowed)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from sfn_callback import config
from sfn_callback.config import Target
from sfn_callback.deploy import packaging
from sfn_callback.deploy.deployer import Deployer, Drivers, context_for
from sfn_callback.deploy.spec import StackContext
from sfn_callback.deploy.stack import build_stack
from sfn_callback.export.stack import ExportStackSettings, export_sink
from support import wait_execution


@dataclass
class ExportCloud:
    cloud: Any  # the LocalCloudHandle
    target: Target
    ctx: StackContext
    settings: ExportStackSettings

    def client(self, service: str) -> Any:
        return self.cloud.client(service)

    @property
    def sink(self) -> str:
        return export_sink(self.ctx)

    @property
    def state_machine_arn(self) -> str:
        return self.ctx.state_machine_arn(config.EXPORT_WORKFLOW)

    def queue_url(self, name: str = config.EXPORT_QUEUE) -> str:
        return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def item(self, job_id: str) -> dict[str, Any] | None:
        return self.client("dynamodb").get_item(TableName=config.EXPORT_JOBS_TABLE, Key={"jobId": {"S": job_id}},
                                                ConsistentRead=True).get("Item")

    def wait_execution(self, arn: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_execution(self.client("stepfunctions"), arn, timeout, interval=0.2)


EXPORT_MODULES = ("sfn_callback.export.stack",)


_DEPLOYED: dict[str, ExportCloud] = {}


@pytest.fixture(scope="session")
def export_cloud(local_cloud) -> ExportCloud:
    # imported by several modules, each of which gets its own copy of the fixture: deploy once per cloud
    if local_cloud.endpoint_url not in _DEPLOYED:
        _DEPLOYED[local_cloud.endpoint_url] = _deploy(local_cloud)
    return _DEPLOYED[local_cloud.endpoint_url]


def _deploy(local_cloud) -> ExportCloud:
    target = Target(endpoint_url=local_cloud.endpoint_url)
    ctx = context_for(target)
    stack = build_stack(ctx, EXPORT_MODULES)
    zip_bytes = packaging.build_zip()  # one package for both runs: the comparison is of the same code
    deployer = Deployer(target, stack, Drivers(target, ctx, zip_bytes))
    deployer.apply(deployer.plan(detect_deletes=False))
    again = Deployer(target, stack, Drivers(target, ctx, zip_bytes)).plan(detect_deletes=False)
    assert not again.has_changes, [c.to_dict() for c in again.changes if c.action != "unchanged"]
    # a warm execution environment before heartbeat deadlines of a few seconds start counting: one job with
    # no files and no token (it completes at once, no callback)
    warmup = {"jobId": f"warmup-{uuid.uuid4().hex[:10]}", "exportId": "warmup", "userId": "tests"}
    record = {"messageId": warmup["jobId"], "receiptHandle": "warmup", "body": json.dumps(warmup),
              "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
              "eventSourceARN": ctx.queue_arn(config.EXPORT_QUEUE), "awsRegion": ctx.region}
    answer = local_cloud.client("lambda").invoke(FunctionName=config.EXPORT_CONSUMER_FUNCTION,
                                                 Payload=json.dumps({"Records": [record]}).encode())
    assert "FunctionError" not in answer and json.loads(answer["Payload"].read()) == {"batchItemFailures": []}
    return ExportCloud(local_cloud, target, ctx, ExportStackSettings.for_context(ctx))
