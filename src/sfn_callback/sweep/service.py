"""One sweep: find the records due, poll them concurrently with a bounded pool, through ``TokenPoller``.

Due means: status POLLING and ``nextPollAt <= now``, or status CALLBACK_PENDING with a claim older than the
lease (a poller died between claim and callback; the sweep resends, as the next per-job poll would).

Correctness does not depend on anything below but the slot guard. Two sweeps may overlap (a slow sweep and
the next tick). Each poll counts its attempt only if the record still holds the ``nextPollAt`` slot the
sweep saw (a conditional write), so a job is polled at most once per slot; a poll whose slot was taken stops
before it writes anything (``SlotTaken``) and is reported as skipped. Everything after the attempt is the
token lifecycle unchanged: claim, callback, finalize.

What makes a sweep fast (each optional, each safe because of the slot guard):

* **One sweep at a time** (``lease``): a sweep first takes a lease (a conditional write); a tick that finds
  the lease held returns at once instead of racing the running sweep for the same records. A lease left by
  a crashed sweep expires; an expired lease held by a sweep still running only lets two sweeps overlap,
  which the slot guard makes safe.
* **Keep sweeping** (``max_seconds``): the lease holder queries again as long as its last pass polled
  something and time remains, so records that came due during a long pass do not wait for the next tick.
* **Look-ahead** (``lookahead_seconds``): a pass also takes the records due within the look-ahead and polls
  each when its ``nextPollAt`` comes (a pool thread waits for it, in slot order), never before: a record due
  a few milliseconds after the query is not left for the next sweep.
* **Cadence**: the next slot is the previous slot plus the interval (or now plus the interval when the sweep
  is later than a whole interval), so a job is polled every ``intervalSeconds`` on average as its own
  schedule would poll it, not every interval plus the sweep's delay.
* **No second read**: when the status index projects the whole item, the record from the query serves the
  poll's first read (the lifecycle's conditional writes catch a stale one; a retry reads consistently).
"""

from __future__ import annotations

import time
import uuid
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
    parse_iso,
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
    record: TokenRecord | None = None
    """The whole record as the query saw it, when the index projects it (serves the poll's first read)."""


class DueSource(Protocol):
    def due(self, now: datetime, stale_claims_before: datetime, limit: int) -> list[DueRecord]:
        """Sweep-mode records due at ``now`` (see the module docstring), oldest slot first, at most ``limit``.
        The sweep passes ``now`` plus its look-ahead."""

    def increment_attempt_in_slot(self, job_id: str, now: datetime, next_poll_at: datetime,
                                  slot: str | None) -> int | None:
        """``increment_attempt`` with the extra condition ``nextPollAt == slot``; None when it fails."""


class SweepLease(Protocol):
    def acquire(self, holder: str, now: datetime, until: datetime) -> bool:
        """Take the lease for ``holder`` until ``until`` if it is free or expired at ``now``. True when taken."""

    def release(self, holder: str) -> None:
        """Give the lease back if ``holder`` still holds it."""


class _SlotGuardedRepository:
    """The token repository, with the attempt counted only in the slot the sweep saw, the next slot kept on
    the job's cadence, and the query's copy of a record used for the poll's first read."""

    def __init__(self, inner: TokenRepository, source: DueSource, due: list[DueRecord]):
        self._inner = inner
        self._source = source
        self._slots = {d.job_id: d.next_poll_at for d in due}
        self._prefetched = {d.job_id: d.record for d in due if d.record is not None}

    def get(self, job_id: str) -> TokenRecord | None:
        # The first read of a poll may use the query's copy: a stale copy fails the slot or claim condition
        # and the lifecycle reads again, consistently, from the table.
        record = self._prefetched.pop(job_id, None)
        return record if record is not None else self._inner.get(job_id)

    def put_new(self, record: TokenRecord) -> None:
        self._inner.put_new(record)

    def delete_polling(self, job_id: str) -> bool:
        return self._inner.delete_polling(job_id)

    def increment_attempt(self, job_id: str, now: datetime, next_poll_at: datetime) -> int | None:
        slot = self._slots.get(job_id)
        next_poll_at = next_slot(slot, now, next_poll_at)
        attempt = self._source.increment_attempt_in_slot(job_id, now, next_poll_at, slot)
        if attempt is None:
            raise SlotTaken(job_id)
        return attempt

    def claim(self, job_id: str, claim: Claim, previous_claim_id: str | None) -> bool:
        return self._inner.claim(job_id, claim, previous_claim_id)

    def finalize(self, job_id: str, claim_id: str, status: TokenStatus, completed_at: datetime,
                 callback_result: str, reason: str | None) -> bool:
        return self._inner.finalize(job_id, claim_id, status, completed_at, callback_result, reason)


def next_slot(slot: str | None, now: datetime, default: datetime) -> datetime:
    """The slot after ``slot``: one interval later (``default - now`` is the interval), or ``default`` (now
    plus the interval) when that is already past: a late sweep does not make a job due again at once."""
    if slot is None:
        return default
    following = parse_iso(slot) + (default - now)
    return following if following > now else default


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
    passes: int = 0
    lease_busy: bool = False
    """Another sweep held the lease: this one did nothing."""
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
            "passes": self.passes,
            "seconds": round(self.seconds, 3),
        }
        if self.lease_busy:
            doc["leaseBusy"] = True
        if with_results:
            doc["results"] = self.results
        return doc


DEFAULT_LEASE_SECONDS = 60.0
"""How long a lease lasts when the sweep has no deadline of its own (``time_left``)."""
STOP_MARGIN_SECONDS = 2.0
"""No poll starts, and no new pass, when less time than this is left."""


@dataclass
class SweepPoller:
    source: DueSource
    repository: TokenRepository
    sender: CallbackSender
    jobs: JobApi
    lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY
    max_records: int = DEFAULT_MAX_RECORDS
    lookahead_seconds: float = 0.0
    max_seconds: float = 0.0
    """Keep sweeping while passes find work, up to this long (0: one pass)."""
    lease: SweepLease | None = None
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    log: Callable[..., None] = field(default=lambda message, **fields: None)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_records < 1:
            raise ValueError(f"concurrency and max_records must be >= 1, got {self.concurrency}, {self.max_records}")
        if self.lookahead_seconds < 0 or self.max_seconds < 0:
            raise ValueError(f"lookahead_seconds and max_seconds must be >= 0, got {self.lookahead_seconds}, "
                             f"{self.max_seconds}")

    def sweep(self, time_left: Callable[[], float] | None = None) -> SweepResult:
        """Poll every due record once (and keep sweeping, see ``max_seconds``). ``time_left()`` (seconds)
        stops starting polls near the deadline; the records not started stay due for the next sweep."""
        started = time.monotonic()
        result = SweepResult()
        holder = uuid.uuid4().hex
        if self.lease is not None:
            now = self.clock()
            hold = time_left() if time_left is not None else max(self.max_seconds, DEFAULT_LEASE_SECONDS)
            if not self.lease.acquire(holder, now, now + timedelta(seconds=hold + STOP_MARGIN_SECONDS)):
                result.lease_busy = True
                result.seconds = time.monotonic() - started
                return result
        try:
            while True:
                polled = self._pass(result, time_left)
                elapsed = time.monotonic() - started
                if polled == 0 or elapsed >= self.max_seconds:
                    break
                if time_left is not None and time_left() < STOP_MARGIN_SECONDS + self.lookahead_seconds:
                    break
        finally:
            if self.lease is not None:
                try:
                    self.lease.release(holder)
                except Exception as exc:  # the lease expires by itself
                    self.log("sweep lease release failed", error=f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - started
        return result

    def _pass(self, result: SweepResult, time_left: Callable[[], float] | None) -> int:
        """One query and its polls, counted into ``result``; returns how many were polled."""
        now = self.clock()
        due = self.source.due(now + timedelta(seconds=self.lookahead_seconds),
                              now - timedelta(seconds=self.lease_seconds), self.max_records)
        result.passes += 1
        result.due += len(due)
        if not due:
            return 0
        poller = TokenPoller(
            repository=_SlotGuardedRepository(self.repository, self.source, due),
            sender=self.sender,
            schedules=_NoSchedules(),
            jobs=self.jobs,
            lease_seconds=self.lease_seconds,
            clock=self.clock,
            log=self.log,
        )

        def one(record: DueRecord) -> tuple[str, PollResult | None, str | None]:
            if record.status == TokenStatus.POLLING.value and record.next_poll_at:
                # A look-ahead record: poll it when its slot comes, not before.
                wait = (parse_iso(record.next_poll_at) - self.clock()).total_seconds()
                if wait > 0:
                    if time_left is not None and time_left() - wait < STOP_MARGIN_SECONDS:
                        return "deferred", None, None
                    self.sleep(wait)
            if time_left is not None and time_left() < STOP_MARGIN_SECONDS:
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
        polled = 0
        for record, (kind, poll, error) in zip(due, outcomes):
            if kind == "polled":
                assert poll is not None
                polled += 1
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
        return polled
