"""The reference job service's use cases: create, answer status requests, cancel, rotate keys, report counts.

A submit (``POST /jobs``) may carry an ``Idempotency-Key``: the first submit with a key that creates a job ties
the key to it and to the body; another submit with the same key and the same body (compared as canonical JSON)
answers that job again (200, ``Idempotent-Replayed: true``) and creates none; the same key with another body is
refused (422). Keys are kept for the service's lifetime. A behaviour's ``submitAnswers`` script the first
submits of that key (or, without a key, of that body): 429 / 5xx create nothing; ``slow`` creates the job and
answers late (a client that gave up and tries again with the key gets the same job).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from sfn_callback.jobapi.application.push import send_push
from sfn_callback.jobapi.domain.jobs import Answer, Behaviour, Job


class UnknownJob(KeyError):
    pass


class KeyReused(ValueError):
    """The idempotency key was used before with another body."""


MAX_IDEMPOTENCY_KEY = 255
SUBMIT_KINDS = ("created", "replayed", "throttled", "errors", "slow", "conflicts")


@dataclass
class SubmitSlot:
    """What the service knows of one idempotency key (or, without a key, of one scripted body)."""

    fingerprint: str
    scripted: int = 0
    job_id: str | None = None


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class KeyStore(Protocol):
    def accepts(self, key: str) -> bool: ...

    def replace(self, keys: list[str]) -> None: ...


class JobService:
    def __init__(self, keys: KeyStore, clock: Callable[[], float] = time.monotonic):
        self.keys = keys
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.unauthorized = 0
        self.http = urllib3.PoolManager(retries=False)
        self._pushing: set[str] = set()
        self.submit_slots: dict[str, SubmitSlot] = {}
        """By ``key:<Idempotency-Key>`` or ``body:<fingerprint>`` (a scripted body without a key)."""
        self.submits = dict.fromkeys(SUBMIT_KINDS, 0)
        """Every submit by what it got: a job created, the same job answered again, 429, 5xx, slow, 422 for a
        reused key."""

    def authorized(self, key: str | None, job_id: str | None = None) -> bool:
        if key is not None and self.keys.accepts(key):
            return True
        with self.lock:
            self.unauthorized += 1
            job = self.jobs.get(job_id) if job_id else None
            if job is not None:
                job.count("unauthorized", self.clock())
        return False

    def create(self, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """A new job (the document); see :meth:`submit` for a submit as the HTTP API answers it."""
        answer = self.submit(body, key)
        if answer.status >= 300:
            raise RuntimeError(f"the submit was answered HTTP {answer.status}")
        return answer.body

    def submit(self, body: dict[str, Any], key: str | None = None) -> Answer:
        """What ``POST /jobs`` answers: the job created (201), the key's job again (200), a scripted fault, or
        :class:`KeyReused`. A body that is not a behaviour raises pydantic's ValidationError (nothing kept)."""
        behaviour = Behaviour.model_validate(body)
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise ValueError(f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} characters")
        digest = fingerprint(body)
        with self.lock:
            now = self.clock()
            slot_id = f"key:{key}" if key is not None else f"body:{digest}" if behaviour.submit_answers else None
            slot = self.submit_slots.get(slot_id) if slot_id else None
            if slot is None and slot_id is not None:
                slot = self.submit_slots[slot_id] = SubmitSlot(digest)
            if key is not None and slot is not None and slot.fingerprint != digest:
                self.submits["conflicts"] += 1
                raise KeyReused("this Idempotency-Key was used before with another body")
            if key is not None and slot is not None and slot.job_id is not None:
                self.submits["replayed"] += 1
                return Answer("replayed", 200, self.jobs[slot.job_id].document(now), {"Idempotent-Replayed": "true"})
            scripted = "ok"
            if slot is not None and slot.scripted < len(behaviour.submit_answers):
                scripted = behaviour.submit_answers[slot.scripted]
                slot.scripted += 1
            if scripted == "429":
                self.submits["throttled"] += 1
                return Answer("throttled", 429, {"error": "throttled"}, {"Retry-After": str(behaviour.retry_after)})
            if scripted in ("500", "502", "503"):
                self.submits["errors"] += 1
                return Answer("errors", int(scripted), {"error": "the service failed"})
            job = Job(f"j-{secrets.token_hex(6)}", behaviour, now)
            self.jobs[job.job_id] = job
            if key is not None and slot is not None:
                slot.job_id = job.job_id
            ends_at = job.ends_at()
            if behaviour.push_url is not None and ends_at is not None:
                self._push_later(job, ends_at - now)
            if scripted == "slow":
                self.submits["slow"] += 1
                return Answer("slow", 201, job.document(now), delay=behaviour.slow_seconds)
            self.submits["created"] += 1
            return Answer("created", 201, job.document(now))

    def submitted(self) -> dict[str, Any]:
        """Every submit by what it got, the keys kept and the jobs."""
        with self.lock:
            return {"submits": dict(self.submits), "keys": sum(1 for s in self.submit_slots if s.startswith("key:")),
                    "jobs": len(self.jobs)}

    def _push_later(self, job: Job, wait: float) -> None:
        """Push ``job``'s end ``wait`` seconds from now plus its ``pushDelaySeconds`` (once; under the lock)."""
        if job.job_id in self._pushing:
            return
        self._pushing.add(job.job_id)
        timer = threading.Timer(max(wait, 0.0) + job.behaviour.push_delay_seconds, self._push, args=(job,))
        timer.daemon = True
        timer.start()

    def _push(self, job: Job) -> None:
        with self.lock:
            if job.cancelled:
                return
        record = send_push(self.http, job, self.clock())
        with self.lock:
            job.push = record

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    def status(self, job_id: str) -> Answer:
        with self.lock:
            job = self._job(job_id)
            answer = job.answer(self.clock())
            if (job.behaviour.push_url is not None and job.ends_at() is None
                    and job.state(self.clock()) in ("succeeded", "failed")):
                self._push_later(job, 0.0)  # a job that ends at a status answer pushes after it
            return answer

    def cancel(self, job_id: str) -> None:
        with self.lock:
            self._job(job_id).cancelled = True

    def served(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            return {"id": job_id, "state": job.state(self.clock()), "served": dict(job.served),
                    "requests": [{"kind": kind, "at": at} for kind, at in job.requests], "cancelled": job.cancelled,
                    "push": dict(job.push) if job.push is not None else None}

    def rotate(self, keys: object) -> int:
        """Replace the accepted keys (a request's JSON, checked here)."""
        if not isinstance(keys, list) or not keys or any(not isinstance(k, str) or len(k) < 16 for k in keys):
            raise ValueError("keys: a non-empty list of keys of at least 16 characters")
        self.keys.replace(keys)
        return len(keys)
