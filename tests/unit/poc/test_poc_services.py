"""Simulated API, create-job use case, adapters' pure parts and the handlers' input validation."""

from __future__ import annotations

import io
import json
import random

import pytest
from botocore.exceptions import ClientError
from poc_fakes import FakeJobs, FakeRepository, FakeSchedules

from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.callbacks.retry import CALLBACK_MAX_ATTEMPTS
from sfn_callback.poc.adapters.external_api import LambdaJobApi
from sfn_callback.poc.domain.simulated_api import JobNotFound, SimulatedJobApi
from sfn_callback.polling.adapters.scheduler import IntervalNotSupported, rate_expression
from sfn_callback.polling.application.create_job import (
    CreateJobService,
    ExternalApiError,
    SchedulingFailed,
    StoringFailed,
    submit_key,
)
from sfn_callback.polling.domain.events import InvalidEvent, UnknownAction
from sfn_callback.polling.domain.lifecycle import ExternalJobNotFound, Outcome, TaskCallbacksSender, TokenStatus


def poc_sender(sfn, *, rng=None, **options):
    """The poller's sender as the PoC builds it: the callback core under the lifecycle's mapping."""
    return TaskCallbacksSender(StepFunctionsCallbacks(sfn, uniform=(rng or random.Random()).uniform, **options))


TOKEN = "AAAAKgAAAAIAAAAAAAAAAT" + "q" * 300


# ----------------------------------------------------------------------------------- simulated API
class MemoryJobStore:
    def __init__(self):
        self.items = {}

    def create(self, item):
        assert item["jobId"] not in self.items
        self.items[item["jobId"]] = dict(item)

    def record_check(self, job_id):
        if job_id not in self.items:
            return None
        self.items[job_id]["pollCount"] += 1
        return dict(self.items[job_id])

    def finish(self, job_id, status, completed_at):
        if self.items[job_id]["status"] == "IN_PROGRESS":
            self.items[job_id].update(status=status, completedAt=completed_at)

    def delete(self, job_id):
        return self.items.pop(job_id, None) is not None


def api(seed=1):
    ids = iter(f"job-{i}" for i in range(1, 100))
    return SimulatedJobApi(MemoryJobStore(), rng=random.Random(seed), new_id=lambda: next(ids))


def checks(a, job_id, n):
    return [a.handle({"action": "CHECK_STATUS", "jobId": job_id})["status"] for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_default_job_completes_after_two_or_three_checks(seed):
    a = api(seed)
    created = a.handle({"action": "CREATE_JOB", "payload": {"recordId": "r"}})
    assert created["status"] == "IN_PROGRESS" and created["completionPolls"] in (2, 3)
    n = created["completionPolls"]
    statuses = checks(a, created["jobId"], n + 1)
    assert statuses == ["IN_PROGRESS"] * (n - 1) + ["COMPLETED", "COMPLETED"]
    doc = a.handle({"action": "CHECK_STATUS", "jobId": created["jobId"]})
    assert set(doc) >= {"jobId", "status", "pollCount", "completionPolls"} and doc["pollCount"] == n + 2


def test_job_options_fix_the_outcome():
    a = api()
    done = a.handle({"action": "CREATE_JOB", "payload": {"completeAfterChecks": 1}})["jobId"]
    failing = a.handle({"action": "CREATE_JOB", "payload": {"failAfterChecks": 2}})["jobId"]
    never = a.handle({"action": "CREATE_JOB", "payload": {"neverComplete": True}})
    assert checks(a, done, 1) == ["COMPLETED"]
    assert checks(a, failing, 3) == ["IN_PROGRESS", "FAILED", "FAILED"]
    assert never["completionPolls"] is None
    assert set(checks(a, never["jobId"], 20)) == {"IN_PROGRESS"}


def test_a_job_placed_in_time_completes_at_its_first_check_at_or_after_complete_at():
    from datetime import UTC, datetime, timedelta

    now = [datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)]
    ids = iter(f"job-{i}" for i in range(1, 10))
    a = SimulatedJobApi(MemoryJobStore(), clock=lambda: now[0], new_id=lambda: next(ids))
    job = a.handle({"action": "CREATE_JOB", "payload": {"completeAt": "2025-01-01T12:00:30.500Z"}})
    assert job["completionPolls"] is None
    assert checks(a, job["jobId"], 5) == ["IN_PROGRESS"] * 5
    now[0] += timedelta(seconds=30.5)
    done = a.handle({"action": "CHECK_STATUS", "jobId": job["jobId"]})
    assert done["status"] == "COMPLETED" and done["completedAt"] == "2025-01-01T12:00:30.500Z"
    assert done["pollCount"] == 6


@pytest.mark.parametrize(
    "event, error",
    [
        ({"action": "CREATE_JOB", "payload": {"completeAt": "soon"}}, InvalidEvent),
        ({"action": "CREATE_JOB", "payload": {"completeAt": "2025-01-01T12:00:00"}}, InvalidEvent),
        ({"action": "CREATE_JOB", "payload": {"completeAt": "2025-01-01T12:00:00Z", "neverComplete": True}},
         InvalidEvent),
        ({"action": "CHECK_STATUS", "jobId": "job-404"}, JobNotFound),
        ({"action": "DELETE_JOB"}, UnknownAction),
        ({"jobId": "x"}, InvalidEvent),
        ({"action": "CHECK_STATUS"}, InvalidEvent),
        ({"action": "CHECK_STATUS", "jobId": 7}, InvalidEvent),
        ({"action": "CREATE_JOB", "payload": "nope"}, InvalidEvent),
        ({"action": "CREATE_JOB", "payload": {"failAfterChecks": 2, "neverComplete": True}}, InvalidEvent),
        ({"action": "CREATE_JOB", "payload": {"completeAfterChecks": "2"}}, InvalidEvent),
        ({"action": "CREATE_JOB", "payload": {"completeAfterChecks": 0}}, InvalidEvent),
        (["CREATE_JOB"], InvalidEvent),
    ],
)
def test_simulated_api_rejects_bad_events_and_writes_nothing(event, error):
    a = api()
    with pytest.raises(error):
        a.handle(event)
    assert a.store.items == {}


# --------------------------------------------------------------------------------------- create-job
def event(**polling):
    cfg = {"intervalMinutes": 1, "maxAttempts": 10, "timeoutMinutes": 15}
    cfg.update(polling)
    return {"record": {"id": "test-001", "data": {"name": "x"}}, "taskToken": TOKEN, "executionId": "arn:exec",
            "pollingConfig": {k: v for k, v in cfg.items() if v is not None}}


def service(allow_sub_minute=False):
    return CreateJobService(jobs=FakeJobs(), repository=FakeRepository(), schedules=FakeSchedules(),
                            allow_sub_minute=allow_sub_minute)


def test_create_job_stores_the_seed_record_and_schedules_polling():
    s = service()
    out = s.handle(event())
    assert out["jobId"] == "job-1" and out["status"] == "POLLING" and out["scheduleName"] == "poll-job-1"
    rec = s.repository.items["job-1"]
    assert rec.task_token == TOKEN and rec.execution_id == "arn:exec" and rec.status is TokenStatus.POLLING
    assert rec.max_attempts == 10 and rec.attempt_count == 0 and rec.interval_seconds == 60
    assert (rec.expires_at - rec.created_at).total_seconds() == 900
    assert s.schedules.created == [("poll-job-1", "job-1", 60)]
    # the submit's idempotency key: a hash of the task token, never the token
    assert s.jobs.created == [{"recordId": "test-001", "data": {"name": "x"}, "idempotencyKey": submit_key(TOKEN)}]


def test_create_job_passes_job_options_and_second_intervals_locally():
    s = service(allow_sub_minute=True)
    s.handle(event(intervalMinutes=None, intervalSeconds=1, timeoutMinutes=None, timeoutSeconds=30,
                   jobOptions={"failAfterChecks": 2}))
    assert s.jobs.created[0]["failAfterChecks"] == 2
    assert s.schedules.created == [("poll-job-1", "job-1", 1)]


def _nested(levels):
    doc = leaf = {}
    for _ in range(levels - 1):
        leaf["x"] = {}
        leaf = leaf["x"]
    return doc


def _bad(e, path, value):
    target = e
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return e


@pytest.mark.parametrize(
    "bad",
    [
        _bad(event(), ["taskToken"], KeyError),
        _bad(event(), ["taskToken"], ""),
        _bad(event(), ["executionId"], 12),
        _bad(event(), ["record"], KeyError),
        _bad(event(), ["record", "id"], None),
        _bad(event(), ["pollingConfig"], KeyError),
        _bad(event(), ["pollingConfig", "maxAttempts"], "10"),
        _bad(event(), ["pollingConfig", "maxAttempts"], 0),
        _bad(event(), ["pollingConfig", "intervalSeconds"], 30),  # both intervals
        _bad(event(), ["pollingConfig", "timeoutMinutes"], KeyError),  # no timeout
        event(intervalMinutes=None, intervalSeconds=30),  # sub-minute on AWS
        event(intervalMinutes=None, intervalSeconds=90),  # not whole minutes on AWS
        _bad(event(), ["pollingConfig", "jobOptions"], {"neverComplete": "yes"}),
        "not an object",
        # The limits AWS and the design impose (the adversarial run's events among them):
        _bad(event(timeoutMinutes=None), ["pollingConfig", "timeoutSeconds"], 10**15),  # past a token's year
        _bad(event(), ["pollingConfig", "timeoutMinutes"], 525_601),
        _bad(event(intervalMinutes=None), ["pollingConfig", "intervalSeconds"], 10**12),  # longer than the timeout
        event(intervalMinutes=20, timeoutMinutes=15),
        _bad(event(), ["pollingConfig", "maxAttempts"], 10**40),
        _bad(event(), ["taskToken"], "A" * 2049),  # Step Functions' TaskToken is at most 2,048 characters
        _bad(event(), ["taskToken"], "A" * 420 * 1024),
        _bad(event(), ["executionId"], "e" * 2049),
        _bad(event(), ["record", "id"], "r" * 1025),
        _bad(event(), ["record", "data"], {"blob": "x" * (256 * 1024)}),  # over Step Functions' 256 KB
        _bad(event(), ["record", "data"], {"v": float("nan")}),
        _bad(event(), ["record", "data"], _nested(40)),
        _bad(event(), ["pollingConfig", "jobOptions"], {"completeAfterChecks": 10**7}),
    ],
)
def test_create_job_rejects_bad_events_before_anything_is_created(bad):
    s = service()
    with pytest.raises(InvalidEvent) as info:
        s.handle(bad)
    assert s.jobs.created == [] and s.repository.items == {} and s.schedules.created == []
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("levels, ok", [(31, True), (32, False), (100_000, False)])
def test_the_record_nests_at_most_32_levels_with_the_token_record_around_it(levels, ok):
    s = service()
    e = event()
    e["record"]["data"] = _nested(levels)  # the record itself is one more level
    if ok:
        assert s.handle(e)["jobId"] == "job-1"
        return
    with pytest.raises(InvalidEvent, match="record: .*nested more than 32 levels"):
        s.handle(e)
    assert s.jobs.created == []


def test_the_limits_accept_what_aws_accepts():
    s = service()
    s.handle(event(intervalMinutes=15, timeoutMinutes=525_600, maxAttempts=35_041) | {"taskToken": "A" * 2048})
    assert s.repository.items["job-1"].max_attempts == 35_041


def test_failed_schedule_removes_the_record_cancels_the_job_and_fails_clearly():
    s = service()
    s.schedules.fail_create = RuntimeError("AccessDenied")
    with pytest.raises(SchedulingFailed, match="poll-job-1.*AccessDenied.*record was removed.*job-1 was cancelled"):
        s.handle(event())
    assert s.repository.items == {} and s.jobs.cancelled == ["job-1"]


def test_a_record_that_cannot_be_stored_cancels_the_job():
    s = service()
    s.repository.put_new = lambda record: (_ for _ in ()).throw(RuntimeError("ItemCollectionSizeLimitExceeded"))
    with pytest.raises(StoringFailed, match="token record of job-1.*ItemCollectionSize.*job-1 was cancelled"):
        s.handle(event())
    assert s.jobs.cancelled == ["job-1"] and s.schedules.created == []
    s.jobs.cancel_job = lambda job_id: (_ for _ in ()).throw(RuntimeError("api down"))
    with pytest.raises(StoringFailed, match="could not be cancelled .*api down"):
        s.handle(event(mode="sweep", intervalMinutes=1))


def test_the_simulated_api_cancels_and_forgets_a_job():
    a = api()
    job_id = a.handle({"action": "CREATE_JOB", "payload": {}})["jobId"]
    assert a.handle({"action": "CANCEL_JOB", "jobId": job_id}) == {"jobId": job_id, "status": "CANCELLED"}
    assert a.store.items == {}
    with pytest.raises(JobNotFound):
        a.handle({"action": "CANCEL_JOB", "jobId": job_id})


def test_external_api_without_job_id_is_an_error():
    s = service()
    s.jobs.create_job = lambda payload: {"error": "boom"}
    with pytest.raises(ExternalApiError):
        s.handle(event())
    assert s.repository.items == {}


# ----------------------------------------------------------------------------------------- adapters
def test_rate_expressions():
    assert rate_expression(60, False) == "rate(1 minute)"
    assert rate_expression(300, False) == "rate(5 minutes)"
    assert rate_expression(1, True) == "rate(1 second)"
    assert rate_expression(5, True) == "rate(5 seconds)"
    with pytest.raises(IntervalNotSupported, match="whole minutes"):
        rate_expression(30, False)
    with pytest.raises(IntervalNotSupported):
        rate_expression(0, True)


def _client_error(code):
    return ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")


class ScriptedSfn:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def _answer(self, name, kwargs):
        self.calls.append((name, kwargs))
        a = self.answers.pop(0) if self.answers else None
        if a is not None:
            raise _client_error(a)
        return {}

    def send_task_success(self, **kw):
        return self._answer("success", kw)

    def send_task_failure(self, **kw):
        return self._answer("failure", kw)


def test_throttling_is_retried_with_bounded_backoff():
    sleeps = []
    sfn = ScriptedSfn("ThrottlingException", "TooManyRequestsException", None)
    sender = poc_sender(sfn, sleep=sleeps.append, rng=random.Random(0), base_delay=0.1, max_delay=0.15)
    result = sender.send(TOKEN, Outcome(TokenStatus.COMPLETED, output={"a": 1}))
    assert result.accepted and len(sfn.calls) == 3 and len(sleeps) == 2
    assert all(0 <= s <= 0.15 for s in sleeps)
    assert json.loads(sfn.calls[0][1]["output"]) == {"a": 1}


def test_throttling_gives_up_after_the_bound():
    sfn = ScriptedSfn(*["ThrottlingException"] * 10)
    sender = poc_sender(sfn, sleep=lambda s: None, max_attempts=4)
    with pytest.raises(ClientError):
        sender.send(TOKEN, Outcome(TokenStatus.FAILED, error="JobFailed"))
    assert len(sfn.calls) == 4
    sfn = ScriptedSfn(*["ThrottlingException"] * 10)
    with pytest.raises(ClientError):
        poc_sender(sfn, sleep=lambda s: None).send(TOKEN, Outcome(TokenStatus.COMPLETED, output={}))
    assert len(sfn.calls) == CALLBACK_MAX_ATTEMPTS == 5


def test_a_finished_answer_after_a_5xx_may_be_our_own_callback():
    class Status500(ScriptedSfn):
        def _answer(self, name, kwargs):
            self.calls.append((name, kwargs))
            if len(self.calls) == 1:
                raise ClientError({"Error": {"Code": "InternalFailure", "Message": "x"},
                                   "ResponseMetadata": {"HTTPStatusCode": 500}}, "SendTaskSuccess")
            raise _client_error("TaskDoesNotExist")

    result = poc_sender(Status500(), sleep=lambda s: None).send(
        TOKEN, Outcome(TokenStatus.COMPLETED, output={}))
    assert not result.accepted and result.maybe_ours and result.finished_reason == "TaskDoesNotExist"
    throttled = poc_sender(ScriptedSfn("ThrottlingException", "TaskDoesNotExist"),
                                            sleep=lambda s: None).send(TOKEN, Outcome(TokenStatus.COMPLETED, output={}))
    assert not throttled.accepted and not throttled.maybe_ours  # a throttled call was refused, not delivered


@pytest.mark.parametrize("code", ["TaskDoesNotExist", "TaskTimedOut", "InvalidToken"])
def test_finished_codes_are_not_errors(code):
    sfn = ScriptedSfn(code)
    result = poc_sender(sfn, sleep=lambda s: None).send(TOKEN, Outcome(TokenStatus.FAILED, error="JobFailed"))
    assert not result.accepted and result.finished_reason == code
    assert sfn.calls[0][1]["error"] == "JobFailed"


def test_other_send_errors_propagate():
    with pytest.raises(ClientError):
        poc_sender(ScriptedSfn("AccessDeniedException")).send(TOKEN, Outcome(TokenStatus.COMPLETED, output={}))


class ScriptedLambda:
    def __init__(self, payload, function_error=None):
        self.payload, self.function_error, self.calls = payload, function_error, []

    def invoke(self, **kw):
        self.calls.append(kw)
        resp = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.function_error:
            resp["FunctionError"] = self.function_error
        return resp


def test_job_api_client_parses_payloads_and_function_errors():
    lam = ScriptedLambda({"jobId": "job-1", "status": "IN_PROGRESS", "pollCount": 1, "completionPolls": 2})
    assert LambdaJobApi(lam, "poc-simulated-api").check_status("job-1")["status"] == "IN_PROGRESS"
    assert json.loads(lam.calls[0]["Payload"]) == {"action": "CHECK_STATUS", "jobId": "job-1"}
    missing = ScriptedLambda({"errorType": "JobNotFound", "errorMessage": "Job not found"}, "Unhandled")
    with pytest.raises(ExternalJobNotFound):
        LambdaJobApi(missing, "f").check_status("job-x")
    broken = ScriptedLambda({"errorType": "KeyError", "errorMessage": "x"}, "Unhandled")
    with pytest.raises(ExternalApiError, match="KeyError"):
        LambdaJobApi(broken, "f").create_job({})
