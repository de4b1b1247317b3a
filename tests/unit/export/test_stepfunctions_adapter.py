"""Error classification and bounded retries of the export's callbacks on the callback core (botocore Stubber)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from sfn_callback.callbacks import CallbackStatus, StepFunctionsCallbacks
from sfn_callback.callbacks.retry import classify
from sfn_callback.common.aws import callback_client_config
from sfn_callback.export.adapters import EmfExportMetrics
from sfn_callback.export.application import CallbackErrorKind, CallbackOutcome, ExportCallbacks

TOKEN = "AAAAKgAAAAIAAAAAAAAAAebfqJhRE-stub-token"


@pytest.fixture
def stubbed():
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        config=callback_client_config(),
    )
    with Stubber(client) as stubber:
        sleeps: list[float] = []
        adapter = ExportCallbacks(StepFunctionsCallbacks(
            client, max_attempts=3, base_delay=0.1, sleep=sleeps.append, uniform=lambda low, high: high
        ))
        yield adapter, stubber, sleeps
        stubber.assert_no_pending_responses()


def test_success_sends_compact_json(stubbed) -> None:
    adapter, stubber, sleeps = stubbed
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": '{"jobId":"1","n":2}'})
    outcome = adapter.send_task_success(TOKEN, {"jobId": "1", "n": 2})
    assert outcome.ok and outcome.attempts == 1 and outcome.kind == "success" and sleeps == []


@pytest.mark.parametrize("code", ["TaskDoesNotExist", "InvalidToken", "TaskTimedOut"])
def test_finished_token_is_final_and_not_retried(stubbed, code) -> None:
    adapter, stubber, sleeps = stubbed
    stubber.add_client_error("send_task_failure", service_error_code=code, http_status_code=400)
    outcome = adapter.send_task_failure(TOKEN, "JobCompletedWithFailures", "Job completed with 1 failed tasks out of 2 total")
    assert not outcome.ok and outcome.token_finished and outcome.error_code == code
    assert outcome.attempts == 1 and sleeps == []


def test_throttling_is_retried_with_backoff_then_succeeds(stubbed) -> None:
    adapter, stubber, sleeps = stubbed
    stubber.add_client_error("send_task_heartbeat", service_error_code="ThrottlingException", http_status_code=400)
    stubber.add_client_error("send_task_heartbeat", service_error_code="ServiceUnavailable", http_status_code=503)
    stubber.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    outcome = adapter.send_task_heartbeat(TOKEN)
    assert outcome.ok and outcome.attempts == 3
    assert sleeps == [0.1, 0.2]  # exponential (rand returns the upper bound here)


def test_retries_are_bounded(stubbed) -> None:
    adapter, stubber, sleeps = stubbed
    for _ in range(3):
        stubber.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    outcome = adapter.send_task_success(TOKEN, {})
    assert not outcome.ok and outcome.error_kind is CallbackErrorKind.TRANSIENT and outcome.retryable_later
    assert outcome.attempts == 3 and len(sleeps) == 2


def test_other_client_errors_are_rejected_without_retry(stubbed) -> None:
    adapter, stubber, sleeps = stubbed
    stubber.add_client_error("send_task_success", service_error_code="AccessDeniedException", http_status_code=400,
                             service_message="not allowed")
    outcome = adapter.send_task_success(TOKEN, {})
    assert outcome.error_kind is CallbackErrorKind.REJECTED and outcome.message == "not allowed"
    assert outcome.attempts == 1 and not outcome.retryable_later


def test_backoff_is_capped_and_jittered() -> None:
    adapter = StepFunctionsCallbacks(object(), base_delay=0.5, max_delay=2.0, uniform=lambda lo, hi: (lo, hi))
    assert [adapter.backoff(n) for n in (1, 2, 3, 4, 5)] == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 2.0), (0.0, 2.0)]


def test_network_errors_are_transient_and_unknown_errors_unexpected() -> None:
    assert classify(EndpointConnectionError(endpoint_url="http://x"))[0] is CallbackStatus.TRANSIENT

    class Broken:
        def send_task_heartbeat(self, **kwargs):
            raise RuntimeError("boom")

    unexpected = ExportCallbacks(StepFunctionsCallbacks(Broken())).send_task_heartbeat(TOKEN)
    assert (unexpected.error_code, unexpected.error_kind) == ("RuntimeError", CallbackErrorKind.UNEXPECTED)
    offline = ExportCallbacks(StepFunctionsCallbacks(_raising(EndpointConnectionError(endpoint_url="http://x")),
                                                     max_attempts=1)).send_task_heartbeat(TOKEN)
    assert (offline.error_code, offline.error_kind) == ("EndpointConnectionError", CallbackErrorKind.TRANSIENT)


def _raising(exc):
    class Client:
        def send_task_heartbeat(self, **kwargs):
            raise exc

    return Client()


def test_emf_metrics_count_success_failure_latency_and_errors_by_type(capsys) -> None:
    from aws_lambda_powertools import Metrics

    metrics = Metrics(namespace="SfnCallback/Export", service="test")
    metrics.clear_metrics()
    emf = EmfExportMetrics(metrics)
    emf.job_started(has_token=True)
    emf.callback_result(CallbackOutcome("success", ok=True, latency_ms=12.5))
    emf.callback_result(CallbackOutcome("failure", ok=False, error_code="TaskTimedOut",
                                        error_kind=CallbackErrorKind.TOKEN_FINISHED, attempts=2, latency_ms=3))
    blob = metrics.serialize_metric_set()
    names = {m["Name"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"JobsStarted", "JobsWithToken", "CallbackSuccess", "CallbackFailure", "CallbackLatencyMs",
            "CallbackRetries"} <= names
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SfnCallback/Export"
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "CallbackErrors" in line]
    assert errors and errors[0]["ErrorType"] == "TaskTimedOut"
    metrics.clear_metrics()
