"""The Step Functions callback adapter against the local cloud: each kind of error a real token can give,
classified final and not retried; and the workflow's HandleFailure branch for an unexpected error."""

from __future__ import annotations

import json
import uuid

import pytest
from export_support import export_cloud  # noqa: F401  (fixture)

from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.common.aws import callback_client_config
from sfn_callback.export.application import CallbackErrorKind, ExportCallbacks
from sfn_callback.export.workflow import definition
from support import wait_for

pytestmark = pytest.mark.cloud


class TokenSource:
    """poc-export-workflow's definition on a queue of its own that no consumer reads: the test answers."""

    def __init__(self, export_cloud, heartbeat_seconds: int, timeout_seconds: int = 60) -> None:
        self.cloud = export_cloud
        self.sqs, self.sfn = export_cloud.client("sqs"), export_cloud.client("stepfunctions")
        suffix = uuid.uuid4().hex[:8]
        self.queue_url = self.sqs.create_queue(QueueName=f"export-it-tokens-{suffix}")["QueueUrl"]
        self.machine = self.sfn.create_state_machine(
            name=f"export-it-callbacks-{suffix}", roleArn=export_cloud.cloud.role_arn(),
            definition=json.dumps(definition(self.queue_url, timeout_seconds=timeout_seconds,
                                             heartbeat_seconds=heartbeat_seconds)))["stateMachineArn"]

    def start(self) -> tuple[str, str]:
        job_id = f"cb-{uuid.uuid4().hex[:10]}"
        arn = self.sfn.start_execution(stateMachineArn=self.machine, name=job_id,
                                       input=json.dumps({"jobId": job_id, "exportId": "e", "userId": "u"}))["executionArn"]
        messages = wait_for(lambda: self.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=1)
                            .get("Messages"), timeout=15, what="the task token message")
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return arn, json.loads(messages[0]["Body"])["taskToken"]

    def close(self) -> None:
        self.sfn.delete_state_machine(stateMachineArn=self.machine)
        self.sqs.delete_queue(QueueUrl=self.queue_url)


@pytest.fixture
def adapter(export_cloud):
    sleeps: list[float] = []
    client = export_cloud.cloud.client("stepfunctions", config=callback_client_config())
    return ExportCallbacks(StepFunctionsCallbacks(client, max_attempts=5, base_delay=0.1, sleep=sleeps.append)), sleeps


def test_used_token_answers_finished_and_is_not_retried(export_cloud, adapter):
    sfn_adapter, sleeps = adapter
    source = TokenSource(export_cloud, heartbeat_seconds=30)
    try:
        arn, token = source.start()
        assert sfn_adapter.send_task_heartbeat(token).ok
        first = sfn_adapter.send_task_success(token, {"status": "COMPLETED"})
        assert first.ok and first.attempts == 1
        assert export_cloud.wait_execution(arn)["status"] == "SUCCEEDED"
        for again in (sfn_adapter.send_task_success(token, {"status": "COMPLETED"}),
                      sfn_adapter.send_task_failure(token, "JobCompletedWithFailures", "late"),
                      sfn_adapter.send_task_heartbeat(token)):
            assert not again.ok and again.attempts == 1
            assert again.error_kind is CallbackErrorKind.TOKEN_FINISHED and again.token_finished
            assert again.error_code in ("TaskTimedOut", "TaskDoesNotExist")
            assert not again.retryable_later
        assert sleeps == []
    finally:
        source.close()


def test_timed_out_token_answers_task_timed_out(export_cloud, adapter):
    sfn_adapter, sleeps = adapter
    source = TokenSource(export_cloud, heartbeat_seconds=1, timeout_seconds=30)
    try:
        arn, token = source.start()
        desc = export_cloud.wait_execution(arn, timeout=15)
        assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "ExportJobTimedOut",
                                                                 "States.HeartbeatTimeout")
        outcome = sfn_adapter.send_task_failure(token, "JobCompletedWithFailures", "too late")
        assert (outcome.ok, outcome.error_code, outcome.error_kind, outcome.attempts) == \
            (False, "TaskTimedOut", CallbackErrorKind.TOKEN_FINISHED, 1)
        assert sleeps == []
    finally:
        source.close()


def test_garbage_token_is_invalid_and_final(export_cloud, adapter):
    sfn_adapter, sleeps = adapter
    for outcome in (sfn_adapter.send_task_success("not-a-real-task-token", {}),
                    sfn_adapter.send_task_heartbeat("not-a-real-task-token")):
        assert (outcome.ok, outcome.error_code, outcome.error_kind, outcome.attempts) == \
            (False, "InvalidToken", CallbackErrorKind.TOKEN_FINISHED, 1)
    assert sleeps == []


def test_unexpected_error_takes_the_handle_failure_branch(export_cloud, adapter):
    sfn_adapter, _ = adapter
    source = TokenSource(export_cloud, heartbeat_seconds=30)
    try:
        arn, token = source.start()
        assert sfn_adapter.send_task_failure(token, "Boom", "something else broke").ok
        desc = export_cloud.wait_execution(arn)
        assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "ExportJobFailed", "Boom")
        events = export_cloud.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
        failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
        assert [(f["error"], f["cause"]) for f in failed] == [("Boom", "something else broke")]
    finally:
        source.close()
