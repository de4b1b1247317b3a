"""In-memory fakes of every port of the token lifecycle, plus a deterministic thread interleaver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.polling.domain.lifecycle import (
    Claim,
    Counted,
    Outcome,
    RecordExists,
    SendResult,
    TaskCallbacksSender,
    TokenPoller,
    TokenRecord,
    TokenStatus,
    new_record,
)

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def no_gate(point: str) -> None:
    return None


class FakeRepository:
    """Atomic conditional operations over a dict, as DynamoDB performs them."""

    def __init__(self, gate: Callable[[str], None] = no_gate):
        self.items: dict[str, TokenRecord] = {}
        self.lock = threading.Lock()
        self.gate = gate
        self.writes = 0
        self.pushes: dict[str, set[str]] = {}

    def get(self, job_id: str) -> TokenRecord | None:
        self.gate("get")
        with self.lock:
            return self.items.get(job_id)

    def put_new(self, record: TokenRecord) -> None:
        with self.lock:
            if record.job_id in self.items:
                raise RecordExists(record.job_id, self.items[record.job_id])
            self.items[record.job_id] = record
            self.writes += 1

    def delete_polling(self, job_id: str) -> bool:
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None or rec.status is not TokenStatus.POLLING:
                return False
            del self.items[job_id]
            self.writes += 1
            return True

    def increment_attempt(self, job_id: str, now: datetime, next_poll_at: datetime, *, slot=None, check_until=None,
                          adopt=False) -> Counted | None:
        self.gate("increment")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None or rec.status is not TokenStatus.POLLING:
                return None
            if slot is not None and rec.polled_slot is not None and rec.polled_slot >= slot:
                return None
            previous = rec.check_until
            adopted_at = None if adopt is False else (rec.adopted_at or now) if adopt else rec.adopted_at
            rec = replace(rec, attempt_count=rec.attempt_count + 1, next_poll_at=next_poll_at, adopted_at=adopted_at,
                          polled_slot=slot if slot is not None else rec.polled_slot,
                          check_until=check_until if check_until is not None else rec.check_until)
            self.items[job_id] = rec
            self.writes += 1
            return Counted(rec.attempt_count, previous)

    def end_check(self, job_id: str, check_until: datetime, restore: datetime | None) -> bool:
        self.gate("end_check")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None or rec.check_until != check_until:
                return False
            self.items[job_id] = replace(rec, check_until=restore)
            self.writes += 1
            return True

    def count_failed_check(self, job_id: str, error: str) -> None:
        self.gate("count_failed_check")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is not None:
                self.items[job_id] = replace(rec, failed_checks=rec.failed_checks + 1, last_check_error=error)
                self.writes += 1

    def give_back_attempt(self, job_id, check_until, restore, *, error, not_before=None, next_poll_at=None) -> bool:
        self.gate("give_back_attempt")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None or rec.status is not TokenStatus.POLLING:
                return False
            self.items[job_id] = replace(
                rec, attempt_count=rec.attempt_count - 1,
                transient_checks=rec.transient_checks + (1 if error is not None else 0),
                last_check_error=error if error is not None else rec.last_check_error,
                check_until=restore if rec.check_until == check_until else rec.check_until,
                not_before=not_before if not_before is not None else rec.not_before,
                next_poll_at=next_poll_at if next_poll_at is not None else rec.next_poll_at)
            self.writes += 1
            return True

    def claim(self, job_id: str, claim: Claim, previous_claim_id: str | None, open_checks_before=None) -> bool:
        self.gate("claim")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None:
                return False
            if previous_claim_id is None:
                ok = rec.status is TokenStatus.POLLING
            else:
                ok = rec.status is TokenStatus.CALLBACK_PENDING and rec.claim_id == previous_claim_id
            if open_checks_before is not None and rec.check_until is not None and rec.check_until >= open_checks_before:
                ok = False
            if not ok:
                return False
            self.items[job_id] = replace(
                rec,
                status=TokenStatus.CALLBACK_PENDING,
                claim_id=claim.claim_id,
                claimed_at=claim.claimed_at,
                outcome=claim.outcome,
                claim_count=rec.claim_count + 1,
                claim_holder=claim.holder,
                claim_released_at=None,
            )
            self.writes += 1
            return True

    def release_claim(self, job_id: str, claim_id: str, at) -> bool:
        self.gate("release_claim")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None or rec.status is not TokenStatus.CALLBACK_PENDING or rec.claim_id != claim_id:
                return False
            self.items[job_id] = replace(rec, claim_released_at=at, next_poll_at=at)
            self.writes += 1
            return True

    def record_push(self, job_id: str, push_id: str) -> bool:
        with self.lock:
            seen = self.pushes.setdefault(job_id, set())
            if job_id not in self.items or push_id in seen:
                return False
            seen.add(push_id)
            self.writes += 1
            return True

    def finalize(self, job_id, claim_id, status, completed_at, callback_result, reason) -> bool:
        self.gate("finalize")
        with self.lock:
            rec = self.items.get(job_id)
            if rec is None or rec.status is not TokenStatus.CALLBACK_PENDING or rec.claim_id != claim_id:
                return False
            self.items[job_id] = replace(
                rec, status=status, completed_at=completed_at, callback_result=callback_result, reason=reason
            )
            self.writes += 1
            return True


class SimulatedCrash(BaseException):
    """The process dies (BaseException: nothing in the lifecycle may swallow it)."""


class FakeStepFunctions:
    """Task tokens: open until the first accepted callback, or until Step Functions closes them."""

    def __init__(self, finished_code: str = "InvalidToken"):
        self.open: set[str] = set()
        self.accepted: list[tuple[str, Outcome]] = []
        self.rejected: list[tuple[str, Outcome]] = []
        self.closed_by_sfn: set[str] = set()
        self.finished_code = finished_code
        self.lock = threading.Lock()

    def issue(self, token: str) -> str:
        self.open.add(token)
        return token

    def time_out(self, token: str) -> None:
        with self.lock:
            self.open.discard(token)
            self.closed_by_sfn.add(token)

    def deliver(self, token: str, outcome: Outcome) -> SendResult:
        with self.lock:
            if token in self.open:
                self.open.discard(token)
                self.accepted.append((token, outcome))
                return SendResult(accepted=True)
            self.rejected.append((token, outcome))
            return SendResult(accepted=False, finished_reason=self.finished_code)


class FakeSender:
    def __init__(self, sfn: FakeStepFunctions, gate: Callable[[str], None] = no_gate):
        self.sfn = sfn
        self.gate = gate
        self.crash_before_delivery = 0
        self.crash_after_delivery = 0
        self.calls = 0

    def send(self, task_token: str, outcome: Outcome) -> SendResult:
        self.gate("send")
        self.calls += 1
        if self.crash_before_delivery:
            self.crash_before_delivery -= 1
            raise SimulatedCrash("died before the callback reached Step Functions")
        result = self.sfn.deliver(task_token, outcome)
        if self.crash_after_delivery:
            self.crash_after_delivery -= 1
            raise SimulatedCrash("died after the callback, before recording it")
        return result


class FlakyStepFunctionsClient:
    """A boto3-shaped Step Functions client over :class:`FakeStepFunctions` whose first ``failures``
    SendTaskSuccess calls answer ``code`` (HTTP ``status``): put under the real callback core and
    :class:`TaskCallbacksSender`, so the lifecycle sees what a failing callback really raises."""

    def __init__(self, sfn: FakeStepFunctions, failures: int, code: str = "InternalFailure", status: int = 500):
        self.sfn, self.failures, self.code, self.status = sfn, failures, code, status
        self.calls = 0

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": self.code, "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": self.status}}, "SendTaskSuccess")
        if not self.sfn.deliver(taskToken, Outcome(TokenStatus.COMPLETED, output=json.loads(output))).accepted:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "closed"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendTaskSuccess")
        return {}

    def sender(self) -> TaskCallbacksSender:
        return TaskCallbacksSender(StepFunctionsCallbacks(self, sleep=lambda seconds: None))


class FakeSchedules:
    def __init__(self):
        self.existing: set[str] = set()
        self.deletes: list[str] = []
        self.created: list[tuple[str, str, int]] = []
        self.fail_create: Exception | None = None

    def create(self, schedule_name: str, job_id: str, interval_seconds: int) -> None:
        if self.fail_create is not None:
            raise self.fail_create
        self.existing.add(schedule_name)
        self.created.append((schedule_name, job_id, interval_seconds))

    def delete(self, schedule_name: str) -> None:
        self.deletes.append(schedule_name)
        self.existing.discard(schedule_name)


class FakeJobs:
    """External job API: each job answers a scripted sequence of statuses (the last one repeats)."""

    def __init__(self):
        self.scripts: dict[str, list[str]] = {}
        self.checks: dict[str, int] = {}
        self.created: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.lock = threading.Lock()

    def script(self, job_id: str, *statuses: str) -> None:
        self.scripts[job_id] = list(statuses)

    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        job_id = f"job-{len(self.created) + 1}"
        self.created.append(payload)
        self.scripts.setdefault(job_id, ["IN_PROGRESS"])
        return {"jobId": job_id, "status": "IN_PROGRESS", "completionPolls": 2}

    def cancel_job(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def check_status(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            n = self.checks.get(job_id, 0) + 1
            self.checks[job_id] = n
            script = self.scripts[job_id]
            status = script[min(n, len(script)) - 1]
        return {"jobId": job_id, "status": status, "pollCount": n, "completionPolls": len(script)}


class World:
    """A record, its token and every fake, wired into a poller."""

    def __init__(self, *, max_attempts: int = 10, timeout_seconds: int = 900, interval_seconds: int = 60,
                 lease_seconds: float = 60.0, gate: Callable[[str], None] = no_gate, job_id: str = "job-1"):
        self.clock = Clock()
        self.repo = FakeRepository(gate)
        self.sfn = FakeStepFunctions()
        self.sender = FakeSender(self.sfn, gate)
        self.schedules = FakeSchedules()
        self.jobs = FakeJobs()
        self.job_id = job_id
        self.token = self.sfn.issue("AAAAKgAAAAIAAAAAAAAAAT" + "x" * 200 + "ZZZZ")
        record = new_record(job_id=job_id, task_token=self.token, execution_id="arn:exec:1", now=self.clock(),
                            interval_seconds=interval_seconds, timeout_seconds=timeout_seconds,
                            max_attempts=max_attempts)
        self.repo.put_new(record)
        self.schedules.existing.add(record.schedule_name)
        self.lease_seconds = lease_seconds
        self._claims = 0

    def new_claim_id(self) -> str:
        self._claims += 1
        return f"claim-{self._claims}"

    def poller(self) -> TokenPoller:
        return TokenPoller(repository=self.repo, sender=self.sender, schedules=self.schedules, jobs=self.jobs,
                           lease_seconds=self.lease_seconds, clock=self.clock, new_claim_id=self.new_claim_id)

    @property
    def record(self) -> TokenRecord:
        return self.repo.items[self.job_id]


class Interleaver:
    """Runs functions in threads, letting exactly one proceed past a gate at a time, in a chosen order.

    ``choices[i]`` picks among the threads waiting at step i (sorted by index); beyond the prefix the lowest
    index runs. ``branching`` records how many threads were waiting at each step, for exhaustive search.
    """

    def __init__(self, choices: list[int]):
        self.choices = choices
        self.cond = threading.Condition()
        self.waiting: dict[int, str] = {}
        self.finished: set[int] = set()
        self.allowed: int | None = None
        self.local = threading.local()
        self.branching: list[int] = []
        self.taken: list[int] = []
        self.errors: dict[int, BaseException] = {}
        self.results: dict[int, Any] = {}

    def gate(self, point: str) -> None:
        idx = getattr(self.local, "idx", None)
        if idx is None:
            return
        with self.cond:
            self.waiting[idx] = point
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.allowed == idx)
            self.allowed = None
            del self.waiting[idx]
            self.cond.notify_all()

    def run(self, fns: list[Callable[[], Any]]) -> None:
        n = len(fns)

        def body(i: int, fn: Callable[[], Any]) -> None:
            self.local.idx = i
            try:
                self.results[i] = fn()
            except BaseException as exc:  # noqa: BLE001 - recorded for the test
                self.errors[i] = exc
            finally:
                with self.cond:
                    self.finished.add(i)
                    self.cond.notify_all()

        threads = [threading.Thread(target=body, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
        for t in threads:
            t.start()
        step = 0
        with self.cond:
            while True:
                ok = self.cond.wait_for(
                    lambda: self.allowed is None and len(self.waiting) + len(self.finished) == n, timeout=10
                )
                assert ok, "interleaver stalled"
                options = sorted(self.waiting)
                if not options:
                    break
                pick = self.choices[step] if step < len(self.choices) else 0
                self.branching.append(len(options))
                self.taken.append(pick)
                self.allowed = options[pick]
                self.cond.notify_all()
                step += 1
        for t in threads:
            t.join(5)


def all_interleavings(run_once: Callable[[list[int]], Interleaver]):
    """Depth-first over every choice sequence; yields each finished interleaver."""
    prefix: list[int] = []
    while True:
        il = run_once(prefix)
        yield il
        taken, branching = il.taken, il.branching
        i = len(taken) - 1
        while i >= 0 and taken[i] + 1 >= branching[i]:
            i -= 1
        if i < 0:
            return
        prefix = taken[:i] + [taken[i] + 1]


def gate_checks(w, gate):
    """The external API call is a step of the interleaving too (a slow check is one that waits there)."""
    check = w.jobs.check_status

    def gated(job_id):
        gate("check")
        return check(job_id)

    w.jobs.check_status = gated
