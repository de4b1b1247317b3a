"""History counters on hand-written events shaped like boto3's ``get_execution_history`` output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sfn_callback.observe.history import (
    callback_reconnects,
    count_lambda_invocations,
    count_retries,
    count_state_entries,
    count_state_transitions,
    event_time,
    history_counts,
    reconnect_latencies,
)

T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
NOT_TRUNCATED = {"truncated": False}
REGION = "us-east-1"
CREATE_JOB = "arn:aws:lambda:us-east-1:000000000000:function:poc-create-job"


class History:
    """Builds one execution's events in order, with ids, previousEventId and timestamps as the API has them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.clock = T0

    def add(self, kind: str, after: timedelta = timedelta(milliseconds=10), **details: Any) -> dict[str, Any]:
        self.clock += after
        event: dict[str, Any] = {
            "timestamp": self.clock,
            "type": kind,
            "id": len(self.events) + 1,
            "previousEventId": len(self.events),
        }
        event.update(details)
        self.events.append(event)
        return event

    def start(self) -> None:
        self.add(
            "ExecutionStarted",
            executionStartedEventDetails={
                "input": "{}",
                "inputDetails": {"truncated": False},
                "roleArn": "arn:aws:iam::000000000000:role/poc-sfn",
            },
        )

    def enter(self, kind: str, name: str, after: timedelta = timedelta(milliseconds=10)) -> None:
        self.add(
            f"{kind}StateEntered",
            after,
            stateEnteredEventDetails={"name": name, "input": "{}", "inputDetails": NOT_TRUNCATED},
        )

    def exit(self, kind: str, name: str) -> None:
        details = {"name": name, "output": "{}", "outputDetails": NOT_TRUNCATED}
        self.add(f"{kind}StateExited", stateExitedEventDetails=details)

    def task_attempt(
        self,
        resource_type: str,
        resource: str,
        outcome: str = "TaskSucceeded",
        after: timedelta = timedelta(milliseconds=10),
    ) -> None:
        common = {"resourceType": resource_type, "resource": resource}
        output = {"output": "{}", "outputDetails": NOT_TRUNCATED}
        self.add("TaskScheduled", taskScheduledEventDetails={**common, "region": REGION, "parameters": "{}"})
        self.add("TaskStarted", taskStartedEventDetails=dict(common))
        if resource.endswith(".waitForTaskToken"):
            self.add("TaskSubmitted", taskSubmittedEventDetails={**common, **output})
        if outcome == "TaskSucceeded":
            self.add(outcome, after, taskSucceededEventDetails={**common, **output})
        else:
            self.add(outcome, after, taskFailedEventDetails={**common, "error": "JobFailed", "cause": "simulated"})

    def task(self, name: str, resource_type: str, resource: str) -> None:
        self.enter("Task", name)
        self.task_attempt(resource_type, resource)
        self.exit("Task", name)

    def succeed(self) -> None:
        self.add("ExecutionSucceeded", executionSucceededEventDetails={"output": "{}", "outputDetails": NOT_TRUNCATED})


def polling_history(polls: int) -> list[dict[str, Any]]:
    """The polling baseline: SubmitJob, then (Wait -> CheckStatus -> IsDone) per poll, then Done."""
    h = History()
    h.start()
    h.task("SubmitJob", "lambda", "invoke")
    for _ in range(polls):
        h.enter("Wait", "WaitInterval")
        h.exit("Wait", "WaitInterval")
        h.task("CheckStatus", "lambda", "invoke")
        h.enter("Choice", "IsDone")
        h.exit("Choice", "IsDone")
    h.enter("Succeed", "Done")
    h.exit("Succeed", "Done")
    h.succeed()
    return h.events


def callback_history(reconnect_after: timedelta = timedelta(milliseconds=250)) -> list[dict[str, Any]]:
    """Seed 000's callback workflow: ProcessRecord (waitForTaskToken), then ProcessingComplete."""
    h = History()
    h.start()
    h.enter("Task", "ProcessRecord")
    h.task_attempt("lambda", "invoke.waitForTaskToken", after=timedelta(minutes=3))
    h.exit("Task", "ProcessRecord")
    h.enter("Pass", "ProcessingComplete", after=reconnect_after)
    h.exit("Pass", "ProcessingComplete")
    h.succeed()
    return h.events


def test_event_type_names_are_the_api_names() -> None:
    from botocore.loaders import Loader

    api_types = set(Loader().load_service_model("stepfunctions", "service-2")["shapes"]["HistoryEventType"]["enum"])
    used = {e["type"] for e in polling_history(2) + callback_history()}
    assert used <= api_types


@pytest.mark.parametrize("polls", [1, 3, 10])
def test_polling_transitions_and_lambdas(polls: int) -> None:
    events = polling_history(polls)
    # SubmitJob + (WaitInterval + CheckStatus + IsDone) per poll + Done = 2 + 3p transitions
    assert count_state_transitions(events) == 2 + 3 * polls
    # SubmitJob + one CheckStatus per poll
    assert count_lambda_invocations(events) == 1 + polls
    assert count_retries(events) == 0


def test_callback_transitions_and_lambdas() -> None:
    events = callback_history()
    # ProcessRecord + ProcessingComplete; waiting on the token adds nothing
    assert count_state_transitions(events) == 2
    assert count_lambda_invocations(events) == 1  # CreateJob, via lambda:invoke.waitForTaskToken


def test_a_retry_is_an_extra_transition() -> None:
    h = History()
    h.start()
    h.enter("Task", "CheckStatus")
    h.task_attempt("lambda", "invoke", outcome="TaskFailed")
    h.task_attempt("lambda", "invoke", outcome="TaskFailed")
    h.task_attempt("lambda", "invoke")
    h.exit("Task", "CheckStatus")
    h.enter("Fail", "Boom")
    h.add("ExecutionFailed", executionFailedEventDetails={"error": "Boom", "cause": "x"})
    counts = history_counts(h.events)
    # 2 states entered (CheckStatus, Boom) + 2 retries (3 attempts of one visit)
    assert (counts.state_entries, counts.retries, counts.state_transitions) == (2, 2, 4)
    assert counts.lambda_invocations == 3


def test_legacy_lambda_tasks_and_start_failures() -> None:
    h = History()
    h.start()
    h.enter("Task", "Legacy")
    details = {"resource": CREATE_JOB, "input": "{}", "inputDetails": NOT_TRUNCATED}
    h.add("LambdaFunctionScheduled", lambdaFunctionScheduledEventDetails=details)
    h.add("LambdaFunctionStartFailed", lambdaFunctionStartFailedEventDetails={"error": "Lambda.SdkClientException"})
    h.add("LambdaFunctionScheduled", lambdaFunctionScheduledEventDetails=details)
    h.add("LambdaFunctionStarted")
    h.add("LambdaFunctionSucceeded", lambdaFunctionSucceededEventDetails={"output": "{}"})
    h.exit("Task", "Legacy")
    h.enter("Task", "Integrated")
    invoke = {"resourceType": "lambda", "resource": "invoke"}
    h.add("TaskScheduled", taskScheduledEventDetails={**invoke, "region": REGION, "parameters": "{}"})
    h.add("TaskStartFailed", taskStartFailedEventDetails={**invoke, "error": "e", "cause": "c"})
    h.exit("Task", "Integrated")
    h.succeed()
    # 2 scheduled legacy - 1 start failure + 1 scheduled integrated - 1 start failure = 1 ran
    assert count_lambda_invocations(h.events) == 1
    # 2 states + 1 retry (second LambdaFunctionScheduled of Legacy)
    assert count_state_transitions(h.events) == 3


def test_other_service_tasks_are_not_lambda_invocations() -> None:
    h = History()
    h.start()
    h.task("SaveRecord", "dynamodb", "putItem")
    h.task("Notify", "sqs", "sendMessage.waitForTaskToken")
    h.succeed()
    assert count_lambda_invocations(h.events) == 0
    assert count_state_transitions(h.events) == 2


def test_every_state_kind_counts_once() -> None:
    h = History()
    h.start()
    for kind in ("Pass", "Choice", "Wait", "Task", "Parallel", "Map", "Succeed"):
        h.enter(kind, kind)
    assert count_state_entries(h.events) == 7


def test_events_are_ordered_by_id() -> None:
    events = polling_history(3)
    assert count_state_transitions(list(reversed(events))) == count_state_transitions(events)
    assert reconnect_latencies(list(reversed(callback_history()))) == reconnect_latencies(callback_history())


@pytest.mark.parametrize("bad", [[{"id": 1}], [{"type": 3}], ["TaskStateEntered"]])
def test_malformed_events_are_rejected(bad: list[Any]) -> None:
    with pytest.raises(ValueError, match="history event #0"):
        count_state_transitions(bad)


def test_reconnect_latency_of_a_callback() -> None:
    [reconnect] = callback_reconnects(callback_history(timedelta(milliseconds=250)))
    assert reconnect.state_name == "ProcessRecord"
    assert reconnect.outcome == "TaskSucceeded"
    assert reconnect.next_state_name == "ProcessingComplete"
    # TaskSucceeded -> TaskStateExited (+10 ms) -> PassStateEntered (+250 ms): 0.26 s
    assert reconnect.latency_seconds == pytest.approx(0.26)


def test_failed_callback_caught_to_a_handler() -> None:
    h = History()
    h.start()
    h.enter("Task", "ProcessRecord")
    h.task_attempt("lambda", "invoke.waitForTaskToken", outcome="TaskFailed")
    h.exit("Task", "ProcessRecord")
    h.enter("Pass", "HandleFailure", after=timedelta(milliseconds=40))
    [reconnect] = callback_reconnects(h.events)
    assert (reconnect.outcome, reconnect.next_state_name) == ("TaskFailed", "HandleFailure")
    assert reconnect.latency_seconds == pytest.approx(0.05)  # 10 ms to the exit + 40 ms


def test_no_reconnect_for_retries_plain_tasks_or_a_final_failure() -> None:
    h = History()
    h.start()
    h.enter("Task", "ProcessRecord")
    h.task_attempt("lambda", "invoke.waitForTaskToken", outcome="TaskFailed")  # retried: not a reconnect
    h.task_attempt("lambda", "invoke.waitForTaskToken")
    h.exit("Task", "ProcessRecord")
    h.task("Plain", "lambda", "invoke")  # not a callback task
    h.enter("Task", "Last")
    h.task_attempt("lambda", "invoke.waitForTaskToken", outcome="TaskFailed")  # execution ends here
    h.add("ExecutionFailed", executionFailedEventDetails={"error": "JobFailed", "cause": "x"})
    reconnects = callback_reconnects(h.events)
    assert [(r.state_name, r.next_state_name) for r in reconnects] == [("ProcessRecord", "Plain")]


def test_timestamps_as_strings_epochs_and_naive_datetimes() -> None:
    aware = {"id": 1, "type": "x", "timestamp": datetime(2026, 1, 1, tzinfo=UTC)}
    assert event_time({"id": 1, "type": "x", "timestamp": "2026-01-01T00:00:00+00:00"}) == aware["timestamp"]
    assert event_time({"id": 1, "type": "x", "timestamp": "2026-01-01T00:00:00Z"}) == aware["timestamp"]
    assert event_time({"id": 1, "type": "x", "timestamp": aware["timestamp"].timestamp()}) == aware["timestamp"]
    assert event_time({"id": 1, "type": "x", "timestamp": datetime(2026, 1, 1)}) == aware["timestamp"]
    with pytest.raises(ValueError, match="no usable timestamp"):
        event_time({"id": 7, "type": "x"})
    with pytest.raises(ValueError, match="unreadable timestamp"):
        event_time({"id": 7, "type": "x", "timestamp": "yesterday"})
