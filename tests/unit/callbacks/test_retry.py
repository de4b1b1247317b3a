"""The callback core's error codes and its full-jitter retry loop."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.callbacks.retry import (
    FINISHED_CODES,
    THROTTLING_CODES,
    call_with_backoff,
    error_code,
    full_jitter,
    http_status,
    is_throttling,
)


def client_error(code: str, status: int | None = 400) -> ClientError:
    response: dict = {"Error": {"Code": code, "Message": code}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "SendTaskSuccess")


class Scripted:
    """Raises the scripted exceptions in turn, then returns ``"ok"``."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_code_sets_are_the_documented_ones_and_disjoint():
    assert FINISHED_CODES == {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"}
    assert {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"} == THROTTLING_CODES
    assert not FINISHED_CODES & THROTTLING_CODES


def test_error_code_and_status_of_client_errors_and_others():
    assert error_code(client_error("TaskTimedOut")) == "TaskTimedOut"
    assert http_status(client_error("InternalFailure", 500)) == 500
    assert http_status(client_error("X", None)) is None
    assert error_code(ClientError({}, "SendTaskSuccess")) == ""
    assert error_code(EndpointConnectionError(endpoint_url="http://x")) == ""
    assert http_status(RuntimeError("boom")) is None
    assert is_throttling(client_error("ThrottlingException")) and not is_throttling(client_error("TaskTimedOut"))


def test_full_jitter_doubles_from_the_base_and_is_capped():
    bounds = [full_jitter(n, 0.5, 2.0, lambda lo, hi: (lo, hi)) for n in range(5)]
    assert bounds == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 2.0), (0.0, 2.0)]
    rng = random.Random(7)
    assert all(0.0 <= full_jitter(n, 0.1, 0.15, rng.uniform) <= 0.15 for n in range(20))


def test_returns_the_first_success_without_pausing():
    sleeps: list[float] = []
    call = Scripted()
    assert call_with_backoff(call, retry_if=is_throttling, max_retries=3, base_delay=0.1, max_delay=1.0,
                             sleep=sleeps.append) == "ok"
    assert call.calls == 1 and sleeps == []


def test_retries_what_retry_if_accepts_with_growing_pauses():
    sleeps: list[float] = []
    call = Scripted(client_error("ThrottlingException"), client_error("Throttling"), client_error("Throttling"))
    result = call_with_backoff(call, retry_if=is_throttling, max_retries=3, base_delay=0.1, max_delay=0.3,
                               sleep=sleeps.append, uniform=lambda lo, hi: hi)
    assert result == "ok" and call.calls == 4
    assert sleeps == [0.1, 0.2, 0.3]


def test_gives_up_after_max_retries_with_the_last_error():
    sleeps: list[float] = []
    errors = [client_error("ThrottlingException") for _ in range(5)]
    call = Scripted(*errors)
    with pytest.raises(ClientError) as raised:
        call_with_backoff(call, retry_if=is_throttling, max_retries=2, base_delay=0.1, max_delay=1.0,
                          sleep=sleeps.append)
    assert raised.value is errors[2] and call.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize("error", [client_error("TaskDoesNotExist"), client_error("AccessDeniedException"),
                                   RuntimeError("boom")])
def test_other_errors_propagate_at_once(error):
    sleeps: list[float] = []
    call = Scripted(error)
    with pytest.raises(type(error)) as raised:
        call_with_backoff(call, retry_if=is_throttling, max_retries=5, base_delay=0.1, max_delay=1.0,
                          sleep=sleeps.append)
    assert raised.value is error and call.calls == 1 and sleeps == []


def test_zero_retries_calls_once():
    call = Scripted(client_error("ThrottlingException"))
    with pytest.raises(ClientError):
        call_with_backoff(call, retry_if=lambda exc: True, max_retries=0, base_delay=0.1, max_delay=1.0,
                          sleep=lambda s: pytest.fail("no pause without a retry"))
    assert call.calls == 1


class ScriptedClient:
    """A Step Functions client whose SendTaskSuccess runs ``Scripted``."""

    def __init__(self, call: Scripted):
        self.call = call

    def send_task_success(self, **kwargs):
        return self.call()


@pytest.mark.parametrize("code", sorted(FINISHED_CODES))
def test_the_core_names_a_finished_token_and_does_not_retry_it(code):
    call = Scripted(client_error(code))
    result = StepFunctionsCallbacks(ScriptedClient(call), max_attempts=4, sleep=lambda s: None).succeed("t" * 40, {})
    assert result.token_finished and result.code == code
    assert call.calls == 1


def test_the_core_retries_throttling_and_does_not_retry_other_errors():
    sleeps: list[float] = []
    call = Scripted(client_error("TooManyRequestsException"))
    assert StepFunctionsCallbacks(ScriptedClient(call), max_attempts=4, sleep=sleeps.append).succeed("t" * 40, {}).delivered
    assert call.calls == 2 and len(sleeps) == 1
    denied = Scripted(client_error("AccessDeniedException"))
    result = StepFunctionsCallbacks(ScriptedClient(denied), max_attempts=4, sleep=sleeps.append).succeed("t" * 40, {})
    assert result.refused and result.code == "AccessDeniedException" and denied.calls == 1
