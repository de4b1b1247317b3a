"""poc-export-workflow: placeholders, shape, and a run on in-process moto (no cloud process)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from sfn_callback.export.workflow import PLACEHOLDERS, definition, raw_definition, substitute


def test_file_is_valid_json_with_string_placeholders() -> None:
    raw = raw_definition()
    task = raw["States"]["StartExportJob"]
    assert task["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert (task["TimeoutSeconds"], task["HeartbeatSeconds"]) == ("${ExportTimeoutSeconds}", "${ExportHeartbeatSeconds}")
    assert "Retry" not in task
    assert [c["Next"] for c in task["Catch"]] == ["HandlePartialFailure", "HandleTimeout", "HandleFailure"]
    assert task["Catch"][1]["ErrorEquals"] == ["States.Timeout", "States.HeartbeatTimeout"]
    assert task["Parameters"]["MessageBody"]["taskToken.$"] == "$$.Task.Token"
    assert set(PLACEHOLDERS) == {"ExportQueueUrl", "ExportTimeoutSeconds", "ExportHeartbeatSeconds"}


def test_substitution_keeps_numbers_numbers() -> None:
    d = definition("http://q/poc-export-jobs", timeout_seconds=120, heartbeat_seconds=10)
    task = d["States"]["StartExportJob"]
    assert task["TimeoutSeconds"] == 120 and task["HeartbeatSeconds"] == 10
    assert task["Parameters"]["QueueUrl"] == "http://q/poc-export-jobs"
    assert substitute({"a": "x-${N}-y", "b": ["${N}"]}, {"N": 3}) == {"a": "x-3-y", "b": [3]}
    with pytest.raises(KeyError, match="ExportQueueUrl"):
        substitute(raw_definition(), {})
    with pytest.raises(ValueError):
        definition("http://q", timeout_seconds=10, heartbeat_seconds=10)


@pytest.fixture
def local_workflow(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                       "MOTO_ACCOUNT_ID": "000000000000"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs, sfn = boto3.client("sqs"), boto3.client("stepfunctions")
        queue = sqs.create_queue(QueueName="poc-export-jobs")["QueueUrl"]
        arn = sfn.create_state_machine(
            name="poc-export-workflow",
            definition=json.dumps(definition(queue, timeout_seconds=60, heartbeat_seconds=1)),
            roleArn="arn:aws:iam::000000000000:role/poc-export-workflow",
        )["stateMachineArn"]

        def run(name: str, answer) -> dict:
            execution = sfn.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps({"jobId": name, "exportId": "e", "userId": "u"})
            )["executionArn"]
            messages: list = []
            deadline = time.monotonic() + 10
            while not messages and time.monotonic() < deadline:
                messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
            body = json.loads(messages[0]["Body"])
            assert body == {"jobId": name, "exportId": "e", "userId": "u", "metadata": {}, "files": [],
                            "options": {}, "taskToken": body["taskToken"]}
            answer(sfn, body["taskToken"])
            while time.monotonic() < deadline + 10:
                described = sfn.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    return described
                time.sleep(0.05)
            raise AssertionError("execution did not finish")

        yield run


def test_runs_on_moto_success_partial_failure_and_lapsed_heartbeat(local_workflow) -> None:
    ok = local_workflow("ok", lambda sfn, t: sfn.send_task_success(taskToken=t, output='{"status":"COMPLETED"}'))
    assert ok["status"] == "SUCCEEDED"
    assert json.loads(ok["output"]) == {"status": "COMPLETED", "message": "Export job completed successfully!",
                                        "jobId": "ok", "result": {"status": "COMPLETED"}}

    partial = local_workflow("partial", lambda sfn, t: sfn.send_task_failure(
        taskToken=t, error="JobCompletedWithFailures", cause="Job completed with 1 failed tasks out of 2 total"))
    assert partial["status"] == "SUCCEEDED"
    output = json.loads(partial["output"])
    assert (output["status"], output["error"]) == ("COMPLETED_WITH_FAILURES", "JobCompletedWithFailures")

    failed = local_workflow("failed", lambda sfn, t: sfn.send_task_failure(taskToken=t, error="Boom"))
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "ExportJobFailed", "Boom")

    # no heartbeat within HeartbeatSeconds=1: the timeout branch (moto names it States.Timeout; AWS says
    # States.HeartbeatTimeout, which the same Catch handles)
    lapsed = local_workflow("lapsed", lambda sfn, t: None)
    assert (lapsed["status"], lapsed["error"]) == ("FAILED", "ExportJobTimedOut")
    assert lapsed["cause"] in ("States.HeartbeatTimeout", "States.Timeout")
