"""A consumer that dies after claiming a job's callback: the message's redelivery must finish it.

Found by ``bench faults``: a consumer invocation timed out after claiming the callback; the message came back
after the queue's visibility timeout, found the claim (younger than the 300 s it used to last) and was deleted
without a callback, so the job's record stayed ``CLAIMED`` for ever and nothing would ever finish it. A claim
now ends at its holder's deadline, which is always before the redelivery (visibility timeout > function
timeout), so the redelivery takes it over and calls back.

Real parts: a copy of the deployed consumer (same package, role and environment) with a 4 s timeout, fed by
its own queue (visibility timeout 8 s) through an event source mapping of the local cloud; a workflow whose
task waits for the token on that queue; the faults endpoint SIGKILLs the worker on its ``SendTaskSuccess``.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from export_support import export_cloud  # noqa: F401  (fixture)

from sfn_callback import config
from sfn_callback.deploy import packaging
from sfn_callback.localcloud.faults import FAULTS_PATH

pytestmark = pytest.mark.cloud

FUNCTION_TIMEOUT = 4
VISIBILITY_TIMEOUT = 8


def _workflow(queue_url: str) -> str:
    return json.dumps({"StartAt": "Export", "States": {"Export": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "TimeoutSeconds": 120,
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {
            "jobId.$": "$.jobId", "exportId": "claim-test", "userId": "tests", "taskToken.$": "$$.Task.Token"}},
        "End": True}}})


def test_a_consumer_killed_after_claiming_the_callback_is_finished_by_the_redelivery(export_cloud):
    cloud = export_cloud.cloud
    lam, sqs, sfn = cloud.client("lambda"), cloud.client("sqs"), cloud.client("stepfunctions")
    suffix = uuid.uuid4().hex[:8]
    name, job_id = f"claim-test-consumer-{suffix}", f"claim-test-{suffix}"
    deployed = lam.get_function_configuration(FunctionName=config.EXPORT_CONSUMER_FUNCTION)
    lam.create_function(FunctionName=name, Runtime=deployed["Runtime"], Role=deployed["Role"],
                        Handler=deployed["Handler"], Timeout=FUNCTION_TIMEOUT, MemorySize=deployed["MemorySize"],
                        Code={"ZipFile": packaging.build_zip()}, Environment=deployed["Environment"])
    queue_url = sqs.create_queue(QueueName=f"claim-test-{suffix}",
                                 Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT)})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    machine = sfn.create_state_machine(name=f"claim-test-{suffix}", definition=_workflow(queue_url),
                                       roleArn=cloud.role_arn())["stateMachineArn"]
    faults = cloud.endpoint_url + FAULTS_PATH
    armed = httpx.post(faults, json={"operation": "SendTaskSuccess", "caller": name, "action": "kill",
                                     "contains": job_id})
    assert armed.status_code == 201, armed.text
    mapping = None
    try:
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"jobId": job_id}))["executionArn"]
        mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=name, BatchSize=1,
                                                  FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
        # The first delivery claims the callback and dies on its SendTaskSuccess.
        limit = time.monotonic() + 60
        while not [f for f in httpx.get(faults).json()["fired"] if f["caller"] == name]:
            assert time.monotonic() < limit, "the consumer never reached its SendTaskSuccess"
            time.sleep(0.2)
        killed_at = time.time()
        item = export_cloud.item(job_id)
        assert item["callbackState"]["S"] == "CLAIMED"
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"

        # The redelivery (after the visibility timeout) finds the claim ended and sends the callback.
        desc = export_cloud.wait_execution(arn, timeout=VISIBILITY_TIMEOUT + 60)
        assert desc["status"] == "SUCCEEDED", desc
        assert json.loads(desc["output"])["jobId"] == job_id
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        assert [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")] == ["TaskSucceeded"]
        succeeded = next(e for e in events if e["type"] == "TaskSucceeded")["timestamp"].timestamp()
        assert succeeded - killed_at < VISIBILITY_TIMEOUT + 30
        limit = time.monotonic() + 30
        while (state := export_cloud.item(job_id)["callbackState"]["S"]) != "SENT" and time.monotonic() < limit:
            time.sleep(0.2)
        assert state == "SENT"
        fired = [f for f in httpx.get(faults).json()["fired"] if f["caller"] == name]
        assert len(fired) == 1 and fired[0]["action"] == "kill"
    finally:
        httpx.delete(faults)
        if mapping:
            lam.delete_event_source_mapping(UUID=mapping)
        lam.delete_function(FunctionName=name)
        sqs.delete_queue(QueueUrl=queue_url)
        sfn.delete_state_machine(stateMachineArn=machine)
