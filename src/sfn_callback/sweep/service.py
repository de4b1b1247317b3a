"""One sweep: find the records due, poll them concurrently with a bounded pool, through ``TokenPoller``.

Due means: status POLLING and ``nextPollAt <= now``, or status CALLBACK_PENDING with a claim older than the
lease (a poller died between claim and callback; the sweep resends, as the next per-job poll would).

Two sweeps may overlap (a slow sweep and the next tick). Each poll counts its attempt only if the record
still holds the ``nextPollAt`` slot the sweep saw (a conditional write), so a job is polled at most once per
slot; a poll whose slot was taken stops before it writes anything (``SlotTaken``) and is reported as
skipped. Everything after the attempt is the token lifecycle unchanged: claim, callback, finalize.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from sfn_callback.poc.lifecycle import (
    DEFAULT_CLAIM_LEASE_SECONDS,
    CallbackSender,
    Claim,
    JobApi,
    PollResult,
    TokenPoller,
    TokenRecord,
    TokenRepository,
    TokenStatus,
    UnknownJob,
    utcnow,
)

DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_RECORDS = 500


class SlotTaken(Exception):
    """The record's ``nextPollAt`` moved (another poll took this slot) or it left POLLING; nothing written."""

    def __init__(self, job_id: str):
        super().__init__(f"job {job_id!r} was polled elsewhere since the sweep saw it")
        self.job_id = job_id


@dataclass(frozen=True)
class DueRecord:
    job_id: str
    status: str
    next_poll_at: str | None
    """The slot exactly as stored (the condition of this poll's attempt)."""


class DueSource(Protocol):
    def due(self, now: datetime, stale_claims_before: datetime, limit: int) -> list[DueRecord]:
        """Sweep-mode records due at ``now`` (see the module docstring), oldest slot first, at most ``limit``."""

    def increment_attempt_in_slot(self, job_id: str, now: datetime, next_poll_at: datetime,
                                  slot: str | None) -> int | None:
        """``increment_attempt`` with the extra condition ``nextPollAt == slot``; None when it fails."""


class _SlotGuardedRepository:
    """The token repository, with the attempt counted only in the slot the sweep saw."""

    def __init__(self, inner: TokenRepository, source: DueSource, slots: dict[str, str | None]):
        self._inner = inner
        self._source = source
        self._slots = slots

    def get(self, job_id: str) -> TokenRecord | None:
        return self._inner.get(job_id)

    def put_new(self, record: TokenRecord) -> None:
        self._inner.put_new(record)

    def delete_polling(self, job_id: str) -> bool:
        return self._inner.delete_polling(job_id)

    def increment_attempt(self, job_id: str, now: datetime, next_poll_at: datetime) -> int | None:
        attempt = self._source.increment_attempt_in_slot(job_id, now, next_poll_at, self._slots.get(job_id))
        if attempt is None:
            raise SlotTaken(job_id)
        return attempt

    def claim(self, job_id: str, claim: Claim, previous_claim_id: str | None) -> bool:
        return self._inner.claim(job_id, claim, previous_claim_id)

    def finalize(self, job_id: str, claim_id: str, status: TokenStatus, completed_at: datetime,
                 callback_result: str, reason: str | None) -> bool:
        return self._inner.finalize(job_id, claim_id, status, completed_at, callback_result, reason)


class _NoSchedules:
    """Sweep-mode records have no schedule of their own: nothing to delete."""

    def delete(self, schedule_name: str) -> None:
        return None


@dataclass
class SweepResult:
    due: int = 0
    polled: int = 0
    reconnected: int = 0
    skipped: int = 0
    deferred: int = 0
    errors: int = 0
    seconds: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, with_results: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "due": self.due,
            "polled": self.polled,
            "reconnected": self.reconnected,
            "skipped": self.skipped,
            "deferred": self.deferred,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }
        if with_results:
            doc["results"] = self.results
        return doc


@dataclass
class SweepPoller:
    source: DueSource
    repository: TokenRepository
    sender: CallbackSender
    jobs: JobApi
    lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY
    max_records: int = DEFAULT_MAX_RECORDS
    clock: Callable[[], datetime] = utcnow
    log: Callable[..., None] = field(default=lambda message, **fields: None)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_records < 1:
            raise ValueError(f"concurrency and max_records must be >= 1, got {self.concurrency}, {self.max_records}")

    def sweep(self, time_left: Callable[[], float] | None = None) -> SweepResult:
        """Poll every due record once. ``time_left()`` (seconds) stops starting polls near the deadline;
        the records not started stay due for the next sweep."""
        started = time.monotonic()
        now = self.clock()
        due = self.source.due(now, now - timedelta(seconds=self.lease_seconds), self.max_records)
        result = SweepResult(due=len(due))
        if not due:
            result.seconds = time.monotonic() - started
            return result
        poller = TokenPoller(
            repository=_SlotGuardedRepository(self.repository, self.source, {d.job_id: d.next_poll_at for d in due}),
            sender=self.sender,
            schedules=_NoSchedules(),
            jobs=self.jobs,
            lease_seconds=self.lease_seconds,
            clock=self.clock,
            log=self.log,
        )

        def one(record: DueRecord) -> tuple[str, PollResult | None, str | None]:
            if time_left is not None and time_left() < 2.0:
                return "deferred", None, None
            try:
                return "polled", poller.poll(record.job_id), None
            except SlotTaken:
                return "skipped", None, None
            except UnknownJob:
                return "skipped", None, None  # deleted since the query
            except Exception as exc:  # the record keeps its state; the next sweep polls it again
                return "error", None, f"{type(exc).__name__}: {exc}"

        if self.concurrency == 1 or len(due) == 1:
            outcomes = [one(record) for record in due]  # no pool needed for one poll at a time
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(due)), thread_name_prefix="sweep") as pool:
                outcomes = list(pool.map(one, due))
        for record, (kind, poll, error) in zip(due, outcomes):
            if kind == "polled":
                assert poll is not None
                result.polled += 1
                result.reconnected += int(poll.reconnected)
                result.results.append(poll.to_dict() | {"jobId": record.job_id})
            elif kind == "skipped":
                result.skipped += 1
            elif kind == "deferred":
                result.deferred += 1
            else:
                result.errors += 1
                self.log("sweep poll failed", job_id=record.job_id, error=error)
        result.seconds = time.monotonic() - started
        return result
