"""The reference job service's push: when a job created with ``pushUrl`` and ``pushSecret`` ends, it POSTs

    {"pushId", "jobId", "status": "COMPLETED" | "FAILED", "result" | "error"}

to the push URL with ``X-Push-Timestamp`` (epoch seconds) and ``X-Push-Signature`` (``sha256=`` + the hex
HMAC-SHA256 of ``"<timestamp>." + body`` keyed with the secret), the protocol of the project's push endpoint
(:mod:`sfn_callback.polling.application.push`). One attempt per job; what happened is kept on the job
(``Job.push``), including when it was sent, so that a scenario can compare it with the workflow's history."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import urllib3

from sfn_callback.jobapi.domain.jobs import Job

PUSH_TIMEOUT_SECONDS = 10.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def push_body(job: Job, now: float) -> dict[str, Any]:
    doc = job.document(now)
    body: dict[str, Any] = {"pushId": f"push-{secrets.token_hex(8)}", "jobId": job.job_id,
                            "status": "COMPLETED" if doc["state"] == "succeeded" else "FAILED"}
    if "result" in doc:
        body["result"] = doc["result"]
    if "error" in doc:
        body["error"] = doc["error"]
    return body


def send_push(http: urllib3.PoolManager, job: Job, now: float) -> dict[str, Any]:
    """Send (or, with ``pushLost``, drop) the job's push; what happened, as kept on the job."""
    b = job.behaviour
    assert b.push_url is not None and b.push_secret is not None
    body = json.dumps(push_body(job, now)).encode()
    sent_at = time.time()
    record: dict[str, Any] = {"sentAt": round(sent_at, 3), "lost": b.push_lost}
    if b.push_lost:
        return record
    timestamp = str(int(sent_at))
    try:
        response = http.request("POST", b.push_url, body=body, timeout=urllib3.Timeout(total=PUSH_TIMEOUT_SECONDS),
                                retries=False, redirect=False,
                                headers={"Content-Type": "application/json", "X-Push-Timestamp": timestamp,
                                         "X-Push-Signature": signature(b.push_secret, timestamp, body)})
        record["statusCode"] = response.status
        record["answer"] = response.data[:500].decode("utf-8", "replace")
    except urllib3.exceptions.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return record
