"""The callback core's adapter on a botocore Stubber: output checks, result types, maybe-delivered, the retry
policy, and AWS's own validation through a real client."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, NoCredentialsError
from botocore.stub import Stubber

from sfn_callback.callbacks import (
    MAX_OUTPUT_BYTES,
    CallbackStatus,
    StepFunctionsCallbacks,
    TaskCallbacks,
    encode_output,
)
from sfn_callback.callbacks.stepfunctions import OutputRefused
from sfn_callback.common.aws import callback_client_config

TOKEN = "AAAAKgAAAAIAAAAAAAAAAebfqJhRE-stub-token"


@pytest.fixture
def stubbed():
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x", config=callback_client_config())
    with Stubber(client) as stubber:
        sleeps: list[float] = []
        yield StepFunctionsCallbacks(client, max_attempts=3, sleep=sleeps.append), stubber, sleeps
        stubber.assert_no_pending_responses()


def test_the_adapter_is_the_port():
    assert isinstance(StepFunctionsCallbacks(object()), TaskCallbacks)


CIRCULAR: list = []
CIRCULAR.append(CIRCULAR)


@pytest.mark.parametrize("output", [float("nan"), {"x": float("inf")}, "not json", '{"x": NaN}', b"\xff", CIRCULAR])
def test_output_that_is_not_json_is_refused_before_sending(stubbed, output):
    callbacks, stubber, _ = stubbed
    result = callbacks.succeed(TOKEN, output)
    assert result.status is CallbackStatus.REFUSED and result.code == "OutputNotJson" and result.attempts == 0


def test_output_over_256_kb_is_refused_and_256_kb_is_sent(stubbed):
    callbacks, stubber, _ = stubbed
    too_big = {"blob": "x" * MAX_OUTPUT_BYTES}
    refused = callbacks.succeed(TOKEN, too_big)
    assert refused.refused and refused.code == "OutputTooLarge" and str(MAX_OUTPUT_BYTES) in refused.message
    just = '"' + "y" * (MAX_OUTPUT_BYTES - 2) + '"'
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": just})
    assert callbacks.succeed(TOKEN, just).delivered


def test_strings_are_sent_as_given_and_values_compactly():
    assert encode_output('{"a": 1}') == '{"a": 1}'
    assert encode_output({"a": [1, 2]}) == '{"a":[1,2]}'
    assert json.loads(encode_output({"when": __import__("datetime").date(2026, 1, 2)})) == {"when": "2026-01-02"}
    with pytest.raises(OutputRefused):
        encode_output([float("nan")])


def test_failure_and_heartbeat_deliver_with_attempts_and_latency(stubbed):
    callbacks, stubber, _ = stubbed
    stubber.add_response("send_task_failure", {}, {"taskToken": TOKEN, "error": "JobFailed", "cause": "why"})
    stubber.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    failed = callbacks.fail(TOKEN, "JobFailed", "why")
    beat = callbacks.heartbeat(TOKEN)
    assert failed.delivered and failed.kind == "failure" and failed.attempts == 1 and failed.latency_ms >= 0
    assert beat.delivered and beat.kind == "heartbeat" and beat.describe() == "DELIVERED"


def test_validation_errors_are_refused_not_retried(stubbed):
    callbacks, stubber, sleeps = stubbed
    stubber.add_client_error("send_task_failure", service_error_code="ValidationException", http_status_code=400,
                             service_message="error too long")
    result = callbacks.fail(TOKEN, "E" * 300, "c")
    assert result.refused and result.code == "ValidationException" and result.message == "error too long"
    assert result.attempts == 1 and sleeps == [] and "ValidationException" in result.describe()


def test_a_5xx_then_finished_may_have_been_ours_a_throttle_then_finished_was_not(stubbed):
    callbacks, stubber, sleeps = stubbed
    stubber.add_client_error("send_task_success", service_error_code="InternalFailure", http_status_code=500)
    stubber.add_client_error("send_task_success", service_error_code="TaskDoesNotExist", http_status_code=400)
    first = callbacks.succeed(TOKEN, {})
    assert first.token_finished and first.maybe_delivered and first.attempts == 2
    stubber.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    stubber.add_client_error("send_task_success", service_error_code="TaskDoesNotExist", http_status_code=400)
    second = callbacks.succeed(TOKEN, {})
    assert second.token_finished and not second.maybe_delivered


def test_exhausted_retries_are_transient_and_say_whether_they_may_have_landed(stubbed):
    callbacks, stubber, sleeps = stubbed
    for _ in range(3):
        stubber.add_client_error("send_task_heartbeat", service_error_code="ThrottlingException", http_status_code=400)
    throttled = callbacks.heartbeat(TOKEN)
    assert throttled.transient and not throttled.maybe_delivered and throttled.attempts == 3 and len(sleeps) == 2
    for _ in range(3):
        stubber.add_client_error("send_task_heartbeat", service_error_code="ServiceUnavailable", http_status_code=503)
    unavailable = callbacks.heartbeat(TOKEN)
    assert unavailable.transient and unavailable.maybe_delivered and isinstance(unavailable.error, ClientError)


class Raising:
    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def send_task_success(self, **kwargs):
        self.calls += 1
        raise self.errors.pop(0) if len(self.errors) > 1 else self.errors[0]


def test_network_errors_lost_connections_may_have_landed_refused_ones_not():
    refused = Raising(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    result = StepFunctionsCallbacks(refused, max_attempts=2, sleep=lambda s: None).succeed(TOKEN, {})
    assert result.transient and not result.maybe_delivered and refused.calls == 2
    lost = Raising(ConnectionClosedError(endpoint_url="http://x"))
    result = StepFunctionsCallbacks(lost, max_attempts=2, sleep=lambda s: None).succeed(TOKEN, {})
    assert result.transient and result.maybe_delivered


def test_retry_only_throttling_answers_the_first_5xx_at_once():
    raising = Raising(ClientError({"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                                  "SendTaskSuccess"))
    result = StepFunctionsCallbacks(raising, retry_only_throttling=True, sleep=lambda s: None).succeed(TOKEN, {})
    assert result.transient and result.maybe_delivered and raising.calls == 1


def test_missing_credentials_is_a_clear_refusal():
    result = StepFunctionsCallbacks(Raising(NoCredentialsError()), sleep=lambda s: None).succeed(TOKEN, {})
    assert result.refused and result.code == "NoCredentialsError" and "credentials" in result.message.lower()
