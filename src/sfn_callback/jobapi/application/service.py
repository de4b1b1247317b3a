"""The reference job service's use cases: create, answer status requests, cancel, rotate keys, report counts."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import urllib3

from sfn_callback.jobapi.application.push import send_push
from sfn_callback.jobapi.domain.jobs import Answer, Behaviour, Job


class UnknownJob(KeyError):
    pass


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

    def authorized(self, key: str | None, job_id: str | None = None) -> bool:
        if key is not None and self.keys.accepts(key):
            return True
        with self.lock:
            self.unauthorized += 1
            job = self.jobs.get(job_id) if job_id else None
            if job is not None:
                job.count("unauthorized", self.clock())
        return False

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        behaviour = Behaviour.model_validate(body)
        job = Job(f"j-{secrets.token_hex(6)}", behaviour, self.clock())
        with self.lock:
            self.jobs[job.job_id] = job
            ends_at = job.ends_at()
            if behaviour.push_url is not None and ends_at is not None:
                self._push_later(job, ends_at - self.clock())
        return job.document(self.clock())

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
