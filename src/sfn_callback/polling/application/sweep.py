"""One sweep: find the records due, poll them concurrently with a bounded pool, through ``TokenPoller``.

Due means: status POLLING and ``nextPollAt <= now``, or status CALLBACK_PENDING with a claim older than the
lease (a poller died between claim and callback; the sweep resends, as the next per-job poll would).

Correctness does not depend on anything below but the slot guard, which is the token lifecycle's own (the
same one per-job polls use, see ``sfn_callback.polling.domain.lifecycle``, "Slots"). Two sweeps may overlap (a slow
sweep and the next tick). Each poll names the ``nextPollAt`` it saw as its slot and counts its attempt only if
no attempt was counted for that slot yet (a conditional write), so a job is polled at most once per slot; a
poll whose slot was taken writes nothing and is reported as skipped. Everything after the attempt is the
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

Adoption (``adopt_after_seconds``, the grace; 0 turns it off): no per-job record is left that nothing polls.
A per-job record whose schedule never polls it (``poc-create-job`` died between storing the record and
creating the schedule, the schedule was deleted by mistake, Scheduler stopped delivering) is adopted by the
sweep: after the sweep-mode records due and the stale claims, and within the same ``max_records``, a pass
takes the POLLING records whose ``nextPollAt`` is at least the grace in the past and whose ``scheduleName``
is not the sweep marker, and polls them through the same slot-guarded ``TokenPoller``. A per-job claim older
than the lease plus the grace (its poller died after claiming, and no schedule resent it) is taken with the
stale claims. The grace must be longer than the worst normal per-job delay (Scheduler delivery, a queued or
throttled poller invocation, create-job's own timeout before its schedule exists): the stack sets 300 s on AWS
and 5 s locally. Adopting a record whose schedule is merely late costs a poll, never a second callback.

* **Adopted, then polled at its cadence**: the adopting attempt also writes ``adoptedAt`` (same UpdateItem),
  and the due query takes ``scheduleName = sweep-mode OR attribute_exists(adoptedAt)``, so the sweep polls an
  adopted record every ``intervalSeconds`` like a sweep-mode one, instead of once per interval plus the grace
  (which, with a 300 s grace and a 60 s interval, would poll an orphan six times less often). A per-job poll
  removes ``adoptedAt`` in its attempt write: when the job's own schedule comes back, the sweep lets go, so the
  two do not both poll it (and use up ``maxAttempts``) for longer than one interval.
* **The record keeps its own** ``scheduleName``: the sweep never deletes a per-job schedule; if the schedule
  exists or is created late, its next poll finds the record terminal and deletes it, as for any terminal
  record. The sweep therefore needs no Scheduler permission.
* **One callback per token** holds against a per-job poll running at the same time: the per-job attempt is
  conditional on POLLING only, the sweep's on the slot it saw; either may count an attempt, but the claim
  (POLLING -> CALLBACK_PENDING, conditional) lets exactly one of them send.
* **AWS cost**: one more Query per pass while the pass has room (0.5 read units for a query that finds
  nothing: about 22,000 read units a month at one pass a minute, well under a cent), plus the index entries it
  reads: per-job records overdue by the grace, and sweep-mode records overdue by the grace (a sweep far
  behind), which the filter drops after they are read. Polling an adopted record costs what polling a
  sweep-mode record costs; ``adoptedAt`` adds a few bytes to one write, no request. Each adoption is logged
  (job id, how overdue) and counted in the result (``adopted``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sfn_callback.polling.domain.lifecycle import (
    DEFAULT_CLAIM_LEASE_SECONDS,
    CallbackSender,
    JobApi,
    PollResult,
    TokenPoller,
    TokenRecord,
    TokenRepository,
    TokenStatus,
    UnknownJob,
    next_slot,
    parse_iso,
    utcnow,
)

__all__ = ["DueRecord", "DueSource", "SweepLease", "SweepPoller", "SweepResult", "next_slot"]

DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_RECORDS = 500
DEFAULT_ADOPT_AFTER_SECONDS = 300.0
"""The handler's adoption grace when its environment sets none (the AWS stack's value)."""


@dataclass(frozen=True)
class DueRecord:
    job_id: str
    status: str
    next_poll_at: str | None
    """The slot exactly as stored (the condition of this poll's attempt)."""
    record: TokenRecord | None = None
    """The whole record as the query saw it, when the index projects it (serves the poll's first read)."""
    adopted: bool = False
    """A per-job record not adopted yet (its schedule has not polled it for the grace): this poll adopts it."""


class DueSource(Protocol):
    def due(self, now: datetime, stale_claims_before: datetime, limit: int, adopt_before: datetime | None = None,
            adopt_claims_before: datetime | None = None) -> list[DueRecord]:
        """Sweep-mode and adopted records due at ``now`` (see the module docstring), oldest slot first, then
        their stale claims; then, when ``adopt_before`` is given, per-job POLLING records with ``nextPollAt <=
        adopt_before`` (and per-job claims older than ``adopt_claims_before`` with the stale claims), marked
        ``adopted``. At most ``limit`` in all. The sweep passes ``now`` plus its look-ahead."""


class SweepLease(Protocol):
    def acquire(self, holder: str, now: datetime, until: datetime) -> bool:
        """Take the lease for ``holder`` until ``until`` if it is free or expired at ``now``. True when taken."""

    def release(self, holder: str) -> None:
        """Give the lease back if ``holder`` still holds it."""


def _overdue(record: DueRecord, now: datetime) -> float | None:
    """How long after its slot the record was found (seconds), when it has one."""
    return round((now - parse_iso(record.next_poll_at)).total_seconds(), 3) if record.next_poll_at else None


class _NoSchedules:
    """Sweep-mode records have no schedule of their own: nothing to delete. An adopted per-job record keeps
    its ``scheduleName``; its schedule, if it exists, deletes itself on its next poll (the record is terminal)."""

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
    adopted: int = 0
    """Per-job records this sweep adopted (polled by the sweep because their own schedule had not)."""
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
            "adopted": self.adopted,
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
    adopt_after_seconds: float = 0.0
    """Adopt per-job records overdue by this long or more (0: never); see the module docstring."""
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    log: Callable[..., None] = field(default=lambda message, **fields: None)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_records < 1:
            raise ValueError(f"concurrency and max_records must be >= 1, got {self.concurrency}, {self.max_records}")
        if self.lookahead_seconds < 0 or self.max_seconds < 0 or self.adopt_after_seconds < 0:
            raise ValueError(f"lookahead_seconds, max_seconds and adopt_after_seconds must be >= 0, got "
                             f"{self.lookahead_seconds}, {self.max_seconds}, {self.adopt_after_seconds}")

    def sweep(self, time_left: Callable[[], float] | None = None, holder: str | None = None) -> SweepResult:
        """Poll every due record once (and keep sweeping, see ``max_seconds``). ``time_left()`` (seconds)
        stops starting polls near the deadline; the records not started stay due for the next sweep.
        ``holder``: the invocation's request id, recorded with its claims."""
        started = time.monotonic()
        result = SweepResult()
        lease_holder = uuid.uuid4().hex  # this sweep's lease; its claims name the invocation (``holder``)
        if self.lease is not None:
            now = self.clock()
            hold = time_left() if time_left is not None else max(self.max_seconds, DEFAULT_LEASE_SECONDS)
            if not self.lease.acquire(lease_holder, now, now + timedelta(seconds=hold + STOP_MARGIN_SECONDS)):
                result.lease_busy = True
                result.seconds = time.monotonic() - started
                return result
        try:
            while True:
                polled = self._pass(result, time_left, holder)
                elapsed = time.monotonic() - started
                if polled == 0 or elapsed >= self.max_seconds:
                    break
                if time_left is not None and time_left() < STOP_MARGIN_SECONDS + self.lookahead_seconds:
                    break
        finally:
            if self.lease is not None:
                try:
                    self.lease.release(lease_holder)
                except Exception as exc:  # the lease expires by itself
                    self.log("sweep lease release failed", error=f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - started
        return result

    def _pass(self, result: SweepResult, time_left: Callable[[], float] | None, holder: str | None) -> int:
        """One query and its polls, counted into ``result``; returns how many were polled."""
        now = self.clock()
        stale_claims_before = now - timedelta(seconds=self.lease_seconds)
        grace = timedelta(seconds=self.adopt_after_seconds)
        due = self.source.due(now + timedelta(seconds=self.lookahead_seconds), stale_claims_before, self.max_records,
                              adopt_before=now - grace if grace else None,
                              adopt_claims_before=stale_claims_before - grace if grace else None)
        result.passes += 1
        result.due += len(due)
        if not due:
            return 0
        poller = TokenPoller(
            repository=self.repository,
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
                # The slot is the nextPollAt the query saw; the query's copy of the record serves the first
                # read (a stale copy fails the slot or claim condition and the poll re-reads consistently).
                poll = poller.poll(record.job_id, slot=parse_iso(record.next_poll_at) if record.next_poll_at else None,
                                   record=record.record, adopt=True if record.adopted else None, holder=holder)
                return ("skipped" if poll.skipped else "polled"), poll, None
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
                if record.adopted:
                    result.adopted += 1
                    self.log("per-job record adopted by the sweep", job_id=record.job_id, record_status=record.status,
                             overdue_seconds=_overdue(record, now), poll_status=poll.status, attempt=poll.attempt)
            elif kind == "skipped":
                result.skipped += 1
            elif kind == "deferred":
                result.deferred += 1
            else:
                result.errors += 1
                self.log("sweep poll failed", job_id=record.job_id, error=error)
        return polled
