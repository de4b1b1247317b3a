"""Fault injection: make chosen AWS calls to the local cloud fail, or kill the Lambda worker that makes them.

Served on ``/_sfn_callback/faults`` (loopback clients only), JSON in and out:

* ``POST`` arms one fault: ``{"operation": "SendTaskSuccess", "caller": "poc-poller", "count": 3,
  "error": "ThrottlingException"}`` makes the next 3 ``SendTaskSuccess`` calls made by ``poc-poller`` answer
  ``ThrottlingException`` (HTTP 400, in the calling protocol's error shape, so the SDK raises exactly what AWS
  would raise). ``"action": "kill"`` instead SIGKILLs the Lambda worker process that made the call, before the
  call reaches the service (a runtime that dies between claiming a job and calling back). Fields:

  ``operation`` (required)  the API operation as the SDK names it (``SendTaskSuccess``, ``SendTaskFailure``,
                            ``SendTaskHeartbeat``, ``PutItem``, ``UpdateItem``, ``Invoke``, ``CreateSchedule``...)
  ``caller``                only calls from this function (the ``app/<name>`` of the SDK user agent, which
                            the Lambda runtime sets through ``AWS_SDK_UA_APP_ID``; ``client`` for any other
                            caller); default: any caller
  ``service``               only calls signed for this service (``states``, ``dynamodb``, ``lambda``, ...)
  ``contains``              only calls whose request body contains this text (a jobId, an execution name):
                            a fault aimed at one job's calls
  ``count``                 how many matching calls fire (default 1); ``skip``: let this many pass first
  ``probability``           fire on a matching call with this probability (default 1), until ``count`` fired
  ``action``                ``error`` (default), ``kill``, or ``duplicate`` (with ``"operation":
                            "ScheduleDelivery"`` only: the schedule runner delivers the matching Scheduler
                            event twice, as Scheduler's at-least-once delivery may; the event's input is the
                            body ``contains`` looks at)
  ``error``, ``status``,    the error code (default ``ThrottlingException``), the HTTP status (400 for client
  ``message``               errors, 500 for ``InternalFailure``-like codes, or as given) and message

  It answers ``201 {"fault": {..., "id": ...}}``, or 400 with what is wrong.
* ``GET`` answers ``{"armed": [...], "fired": [...], "calls": {operation: {caller: n}}}``: the faults still
  armed (with ``fired`` counts), each firing (time, operation, caller, what happened, the killed pid), and how
  many calls of each operation each caller made since the last ``DELETE`` (faulted calls included).
* ``DELETE`` disarms everything and clears the record (``?id=N`` disarms one fault).

One registry per process (the local cloud is one per process). :func:`handle` is the server's hook: it
answers the faults route and faulted calls, and returns ``None`` for everything else.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import random
import re
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sfn_callback.localcloud.metering import caller_from_user_agent, service_from_authorization

log = logging.getLogger("sfn_callback.localcloud.faults")

FAULTS_PATH = "/_sfn_callback/faults"
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
ACTIONS = ("error", "kill", "duplicate")
DELIVERY = "ScheduleDelivery"
"""The operation name of a Scheduler delivery (made by the local cloud's schedule runner, caller ``scheduler``)."""
SCHEDULER_CALLER = "scheduler"
MAX_COUNT = 1_000_000
KILL_MISSES = 3
"""A kill whose call's connection no worker owns any more (the caller gave up on a slow answer and retried on a
new connection, seen with the load average above 20) stays armed for the next matching call, this many times;
then it fires with ``pid: null`` (nothing killed, the call answered 500)."""

# Operations of the REST APIs the stack uses, by method and path (JSON and query APIs name theirs).
_REST_OPERATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/2015-03-31/functions/[^/]+/invocations$"), "Invoke"),
    ("POST", re.compile(r"^/2014-11-13/functions/[^/]+/invoke-async/?$"), "InvokeAsync"),
    ("POST", re.compile(r"^/schedules/[^/]+$"), "CreateSchedule"),
    ("PUT", re.compile(r"^/schedules/[^/]+$"), "UpdateSchedule"),
    ("DELETE", re.compile(r"^/schedules/[^/]+$"), "DeleteSchedule"),
    ("GET", re.compile(r"^/schedules/[^/]+$"), "GetSchedule"),
    ("GET", re.compile(r"^/schedules/?$"), "ListSchedules"),
)


class FaultError(ValueError):
    """A fault definition that cannot be armed."""


@dataclass
class Fault:
    operation: str
    caller: str | None = None
    service: str | None = None
    contains: str | None = None
    count: int = 1
    skip: int = 0
    probability: float = 1.0
    action: str = "error"
    error: str = "ThrottlingException"
    status: int = 400
    message: str = "Rate exceeded"
    id: int = 0
    seen: int = 0
    fired: int = 0
    missed: int = 0  # kills that found no worker owning the call's connection (the fault stayed armed)

    @classmethod
    def from_doc(cls, doc: Any) -> Fault:
        if not isinstance(doc, dict):
            raise FaultError("the body must be a JSON object")
        known = {"operation", "caller", "service", "contains", "count", "skip", "probability", "action", "error",
                 "status", "message"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise FaultError(f"unknown fields {unknown}; known: {sorted(known)}")
        operation = doc.get("operation")
        if not isinstance(operation, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{1,63}", operation):
            raise FaultError("operation must be an API operation name such as SendTaskSuccess")
        for name in ("caller", "service", "contains", "error", "message"):
            if name in doc and not (isinstance(doc[name], str) and 0 < len(doc[name]) <= 256):
                raise FaultError(f"{name} must be a non-empty string of at most 256 characters")
        for name, low in (("count", 1), ("skip", 0)):
            value = doc.get(name, low)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
                raise FaultError(f"{name} must be a whole number from {low} to {MAX_COUNT}")
        probability = doc.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 < probability <= 1:
            raise FaultError("probability must be a number in (0, 1]")
        action = doc.get("action", "error")
        if action not in ACTIONS:
            raise FaultError(f"action must be one of {list(ACTIONS)}")
        if (action == "duplicate") != (operation == DELIVERY):
            raise FaultError(f'"action": "duplicate" goes with "operation": "{DELIVERY}" (a Scheduler delivery), '
                             "and a Scheduler delivery can only be duplicated")
        error = doc.get("error")
        status = doc.get("status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
            raise FaultError("status must be an HTTP error status (400-599)")
        if error is None:
            error = "ThrottlingException" if status is None else ("InternalFailure" if status >= 500 else
                                                                   "ValidationException")
        if status is None:
            status = 500 if re.search(r"InternalFailure|InternalServer|ServiceUnavailable|ServiceException",
                                      error) else 400
        return cls(operation=operation, caller=doc.get("caller"), service=doc.get("service"),
                   contains=doc.get("contains"), count=doc.get("count", 1), skip=doc.get("skip", 0),
                   probability=float(probability),
                   action=action, error=error, status=status,
                   message=doc.get("message") or f"{error} (injected by the local cloud)")

    def matches(self, service: str | None, operation: str, caller: str, body: str | None = None) -> bool:
        """Does this fault match the call? ``body`` None: not looked at (``contains`` is checked by the caller
        of this method once the body is read)."""
        return (self.fired < self.count and operation == self.operation
                and (self.caller is None or self.caller == caller)
                and (self.service is None or self.service == service)
                and (body is None or self.contains is None or self.contains in body))

    def to_doc(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class _Registry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    armed: list[Fault] = field(default_factory=list)
    fired: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    rng: random.Random = field(default_factory=random.Random)


_registry = _Registry()


# -- the registry, also usable in-process ----------------------------------------------------------
def arm(doc: Any) -> Fault:
    fault = Fault.from_doc(doc)
    with _registry.lock:
        fault.id = next(_registry.ids)
        _registry.armed.append(fault)
    log.warning("fault armed: %s", json.dumps(fault.to_doc(), sort_keys=True))
    return fault


def clear(fault_id: int | None = None) -> int:
    with _registry.lock:
        before = len(_registry.armed)
        if fault_id is None:
            _registry.armed.clear()
            _registry.fired.clear()
            _registry.calls.clear()
        else:
            _registry.armed = [f for f in _registry.armed if f.id != fault_id]
        return before - len(_registry.armed)


def state() -> dict[str, Any]:
    with _registry.lock:
        return {"armed": [f.to_doc() for f in _registry.armed],
                "fired": list(_registry.fired),
                "calls": json.loads(json.dumps(_registry.calls))}


def _take(service: str | None, operation: str, caller: str,
          body: Callable[[], bytes | str] | None = None) -> Fault | None:
    """Count the call; the fault that fires on it, if any (its counters updated). ``body`` reads the request
    body: called only when an armed fault that matches the call looks at it (``contains``)."""
    text = ""
    with _registry.lock:
        wanted = any(f.contains is not None and f.matches(service, operation, caller) for f in _registry.armed)
    if wanted and body is not None:
        raw = body()
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    with _registry.lock:
        per_caller = _registry.calls.setdefault(operation, {})
        per_caller[caller] = per_caller.get(caller, 0) + 1
        for fault in _registry.armed:
            if not fault.matches(service, operation, caller, text):
                continue
            fault.seen += 1
            if fault.seen <= fault.skip:
                continue
            if fault.probability < 1 and _registry.rng.random() >= fault.probability:
                continue
            fault.fired += 1
            if fault.fired >= fault.count:  # spent: no longer armed (its firings stay in the record)
                _registry.armed.remove(fault)
            return fault
    return None


def _rearm(fault: Fault) -> bool:
    """Undo a kill's firing that killed nothing (up to ``KILL_MISSES`` times): True when it is armed again."""
    with _registry.lock:
        if fault.missed >= KILL_MISSES:
            return False
        fault.missed += 1
        fault.fired -= 1
        fault.seen -= 1
        if fault not in _registry.armed:
            _registry.armed.append(fault)
        return True


def _record(fault: Fault, operation: str, caller: str, **extra: Any) -> None:
    entry = {"id": fault.id, "at": round(time.time(), 3), "operation": operation, "caller": caller,
             "action": fault.action, **({"error": fault.error, "status": fault.status} if fault.action == "error"
                                        else {}), **extra}
    with _registry.lock:
        _registry.fired.append(entry)


def duplicate_delivery(schedule: str, payload: str) -> bool:
    """The schedule runner's hook: should this Scheduler delivery (of ``schedule``, ``group/name``, with the
    event's input ``payload``) be delivered once more? True when an armed duplicate fault fires on it (recorded
    in the fired list with the schedule's name)."""
    fault = _take(SCHEDULER_CALLER, DELIVERY, SCHEDULER_CALLER, body=lambda: payload)
    if fault is None:
        return False
    _record(fault, DELIVERY, SCHEDULER_CALLER, schedule=schedule)
    log.warning("fault %d: Scheduler delivery of %s duplicated", fault.id, schedule)
    return True


# -- reading a request -----------------------------------------------------------------------------
def operation_of(environ: dict[str, Any]) -> tuple[str | None, str, str]:
    """``(service, operation, protocol)`` of an AWS request: the ``X-Amz-Target`` of the JSON APIs, the
    ``Action`` of the query APIs, the method and path of the REST APIs the stack uses (``""`` if unknown)."""
    service = service_from_authorization(environ.get("HTTP_AUTHORIZATION"))
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if target:
        return service, target.rsplit(".", 1)[-1], "json"
    action = parse_qs(environ.get("QUERY_STRING") or "").get("Action")
    if not action and "x-www-form-urlencoded" in (environ.get("CONTENT_TYPE") or ""):
        action = parse_qs(_peek_body(environ).decode("utf-8", "replace")).get("Action")
    if action:
        return service, action[0], "query"
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    for rest_method, pattern, name in _REST_OPERATIONS:
        if method == rest_method and pattern.match(path):
            return service, name, "rest-json"
    return service, "", "rest-xml" if service == "s3" else "rest-json"


def _peek_body(environ: dict[str, Any]) -> bytes:
    """The request body, leaving ``wsgi.input`` readable again for the service behind."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


# -- answering -------------------------------------------------------------------------------------
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 413: "Request Entity Too Large",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def _respond(start_response: Callable[..., Any], status: int, body: bytes, content_type: str,
             headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Error')}",
                   [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


def _json(start_response: Callable[..., Any], status: int, doc: Any) -> list[bytes]:
    return _respond(start_response, status, json.dumps(doc).encode(), "application/json")


def error_response(start_response: Callable[..., Any], protocol: str, code: str, status: int,
                   message: str) -> list[bytes]:
    """An AWS error in the shape the calling protocol's SDK parser reads."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
    if protocol in ("query", "rest-xml"):
        kind = "Receiver" if status >= 500 else "Sender"
        inner = f"<Code>{code}</Code><Message>{_xml(message)}</Message>"
        if protocol == "query":
            xml = (f"<ErrorResponse><Error><Type>{kind}</Type>{inner}</Error><RequestId>{request_id}</RequestId>"
                   "</ErrorResponse>")
        else:
            xml = f"<Error>{inner}<RequestId>{request_id}</RequestId></Error>"
        return _respond(start_response, status, xml.encode(), "text/xml", headers)
    content_type = "application/x-amz-json-1.0" if protocol == "json" else "application/json"
    body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    return _respond(start_response, status, body, content_type, headers)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- killing the caller ----------------------------------------------------------------------------
def calling_worker(remote_port: int, server_port: int | None = None) -> int | None:
    """The pid of this process's Lambda execution environment that owns the client end of the connection from
    ``remote_port``: a local cloud request comes over loopback, and every child of this process is an
    environment's bootstrap (Python, Node.js or a function's own ``bootstrap``); the connection may belong to
    one of its own children, so the answer is the environment it runs in.

    One system-wide connection table (``psutil.net_connections``) rather than one per process: with tens of
    environments on a loaded machine the per-process scan took seconds, long enough for the caller to give up
    on its call and retry on a new connection."""
    import psutil

    me = psutil.Process(os.getpid())
    try:
        environments = {child.pid for child in me.children()}
        owners = [c.pid for c in psutil.net_connections(kind="tcp")
                  if c.pid and c.pid != me.pid and c.laddr and c.laddr.port == remote_port
                  and (server_port is None or (c.raddr and c.raddr.port == server_port))]
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        return None
    for pid in owners:
        try:
            process = psutil.Process(pid)
            while process is not None and process.pid not in environments:
                process = process.parent()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if process is not None:
            return process.pid
    return None


def _kill_caller(environ: dict[str, Any]) -> int | None:
    try:
        port = int(environ.get("REMOTE_PORT") or 0)
    except ValueError:
        return None
    try:
        server_port = int(environ.get("SERVER_PORT") or 0) or None
    except ValueError:
        server_port = None
    pid = calling_worker(port, server_port) if port else None
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    return pid


# -- the hook --------------------------------------------------------------------------------------
def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
    """The faults route, or a faulted call's answer; ``None``: the request goes on to the service."""
    if environ.get("PATH_INFO") == FAULTS_PATH:
        return _route(environ, start_response)
    service, operation, protocol = operation_of(environ)
    if not operation:
        return None
    caller = caller_from_user_agent(environ.get("HTTP_USER_AGENT"))
    fault = _take(service, operation, caller, body=lambda: _peek_body(environ))
    if fault is None:
        return None
    if fault.action == "kill":
        pid = _kill_caller(environ)
        if pid is None and _rearm(fault):
            log.warning("fault %d: %s from %s: no worker owns the connection any more; the kill stays armed",
                        fault.id, operation, caller)
            return error_response(start_response, protocol, "InternalFailure", 500,
                                  "fault injection: no Lambda worker owns this connection; the kill stays armed")
        _record(fault, operation, caller, pid=pid)
        log.warning("fault %d: %s from %s: killed worker pid %s", fault.id, operation, caller, pid)
        if pid is None:
            return error_response(start_response, protocol, "InternalFailure", 500,
                                  "fault injection: no Lambda worker owns this connection, nothing was killed")
        return error_response(start_response, protocol, "InternalFailure", 500, "the calling worker was killed")
    _record(fault, operation, caller)
    log.warning("fault %d: %s from %s answered %s (%d)", fault.id, operation, caller, fault.error, fault.status)
    return error_response(start_response, protocol, fault.error, fault.status, fault.message)


def _route(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("REMOTE_ADDR") not in LOOPBACK:
        return _json(start_response, 403, {"error": "fault injection is served to loopback clients only"})
    method = environ.get("REQUEST_METHOD")
    if method in ("GET", "HEAD"):
        return _json(start_response, 200, state())
    if method == "DELETE":
        raw = parse_qs(environ.get("QUERY_STRING") or "").get("id", [None])[0]
        try:
            fault_id = int(raw) if raw is not None else None
        except ValueError:
            return _json(start_response, 400, {"error": f"id must be a whole number, got {raw!r}"})
        return _json(start_response, 200, {"cleared": clear(fault_id)})
    if method == "POST":
        body = _peek_body(environ)
        if len(body) > 64 * 1024:
            return _json(start_response, 413, {"error": "a fault definition is at most 64 KB"})
        try:
            fault = arm(json.loads(body or b"null"))
        except (ValueError, FaultError) as exc:
            message = str(exc) if isinstance(exc, FaultError) else f"the body is not JSON: {exc}"
            return _json(start_response, 400, {"error": message})
        return _json(start_response, 201, {"fault": fault.to_doc()})
    return _json(start_response, 405, {"error": f"{method} is not supported here; use GET, POST or DELETE"})
