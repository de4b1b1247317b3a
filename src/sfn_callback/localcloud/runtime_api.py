"""The Lambda Runtime API of one execution environment, served on loopback.

Every runtime's bootstrap (our Python worker, our Node.js bootstrap, a ``provided.al2023`` function's own
``bootstrap`` executable) talks to it exactly as it talks to Lambda's, through ``AWS_LAMBDA_RUNTIME_API``:

* ``GET  /2018-06-01/runtime/invocation/next``: blocks until the environment is handed an event; answers
  the event with ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``, ``-Invoked-Function-Arn``,
  ``-Trace-Id`` and, when present, ``-Client-Context`` and ``-Cognito-Identity``;
* ``POST /2018-06-01/runtime/invocation/{id}/response``: the function's result (6 MB at most);
* ``POST /2018-06-01/runtime/invocation/{id}/error``: the function's error (``Lambda-Runtime-Function-Error-Type``);
* ``POST /2018-06-01/runtime/init/error``: the runtime could not initialise.

One API per environment (its own port), as on Lambda, where each sandbox has its own endpoint: the first
``next`` call marks the end of the environment's init phase.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from typing import Any

PREFIX = "/2018-06-01/runtime/"
NEXT = PREFIX + "invocation/next"
INIT_ERROR = PREFIX + "init/error"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
_LIMIT_MESSAGE = "Response payload size exceeded maximum allowed payload size (6291556 bytes)."


class Invocation:
    """One event handed to an environment, and what the runtime answered."""

    __slots__ = ("request_id", "payload", "deadline_ms", "function_arn", "trace_id", "client_context",
                 "cognito_identity", "done", "kind", "body", "error_type", "dispatched_at")

    def __init__(self, request_id: str, payload: bytes, deadline_ms: int, function_arn: str, trace_id: str,
                 client_context: str | None = None, cognito_identity: str | None = None) -> None:
        self.request_id = request_id
        self.payload = payload
        self.deadline_ms = deadline_ms
        self.function_arn = function_arn
        self.trace_id = trace_id
        self.client_context = client_context
        self.cognito_identity = cognito_identity
        self.done = threading.Event()
        self.kind = ""  # "response" or "error"
        self.body = b""
        self.error_type: str | None = None
        self.dispatched_at = 0.0

    def finish(self, kind: str, body: bytes, error_type: str | None = None) -> bool:
        if self.done.is_set():
            return False
        self.kind, self.body, self.error_type = kind, body, error_type
        self.done.set()
        return True


class RuntimeApi:
    """The Runtime API endpoint of one environment: ``address`` is what ``AWS_LAMBDA_RUNTIME_API`` names."""

    def __init__(self, name: str = "lambda") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._events: queue.SimpleQueue[Invocation | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._current: dict[str, Invocation] = {}
        self.ready = threading.Event()  # set at the first `next`: the init phase is over
        self.ready_at = 0.0
        self.init_error: dict[str, Any] | None = None
        self.closed = False
        threading.Thread(target=self._accept, name=f"runtime-api-{name}", daemon=True).start()

    # -- the executor's side ----------------------------------------------------------------------
    def dispatch(self, invocation: Invocation) -> None:
        with self._lock:
            self._current[invocation.request_id] = invocation
        self._events.put(invocation)

    def forget(self, invocation: Invocation) -> None:
        with self._lock:
            self._current.pop(invocation.request_id, None)

    def close(self) -> None:
        self.closed = True
        self._events.put(None)  # releases a `next` that is waiting
        self.ready.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    # -- the runtime's side -----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, address = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_Handler, args=(conn, address, self), daemon=True,
                             name="runtime-api-conn").start()

    def next_event(self) -> Invocation | None:
        if not self.ready.is_set():
            self.ready_at = time.monotonic()
            self.ready.set()
        while True:
            invocation = self._events.get()
            if invocation is None:
                self._events.put(None)  # every waiting `next` of a closed API returns
                return None
            if not invocation.done.is_set():  # skip an event its invoker gave up on (timeout)
                invocation.dispatched_at = time.monotonic()
                return invocation

    def complete(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> bool:
        with self._lock:
            invocation = self._current.pop(request_id, None)
        return invocation is not None and invocation.finish(kind, body, error_type)

    def fail_init(self, body: bytes, error_type: str | None) -> None:
        try:
            error = json.loads(body or b"{}")
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {"errorMessage": str(error)}
        error.setdefault("errorType", error_type or "Runtime.Unknown")
        error.setdefault("errorMessage", "")
        self.init_error = error
        self.ready.set()


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 413: "Request Entity Too Large",
            500: "Internal Server Error"}


class _Handler:
    """One connection from a runtime: HTTP/1.1 with keep-alive, read and written with as little work as
    possible (the Runtime API sits on every invoke's path: two requests per invoke)."""

    def __init__(self, conn: socket.socket, address: Any, api: RuntimeApi) -> None:
        self.api = api
        self.conn = conn
        self.rfile = conn.makefile("rb")
        try:
            while self._one():
                pass
        except (OSError, ValueError):  # the runtime went away mid-request
            pass
        finally:
            for closing in (self.rfile.close, conn.close):
                try:
                    closing()
                except OSError:
                    pass

    def _one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        method, target, version = (line.decode("latin-1").split() + ["", "", ""])[:3]
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._body(headers)
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if method == "GET":
            keep = self._get(target) and keep
        elif method == "POST":
            self._post(target, headers, body)
        else:
            self._reply(404, b'{"errorMessage":"Not Found","errorType":"NotFound"}')
        return keep

    def _body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n")
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.conn.sendall((head + "\r\n").encode("latin-1") + body)  # one write: no Nagle stall

    def _get(self, target: str) -> bool:
        if target != NEXT:
            self._reply(404, b'{"errorMessage":"Not Found","errorType":"NotFound"}')
            return True
        invocation = self.api.next_event()
        if invocation is None:
            self._reply(500, b'{"errorMessage":"The environment is shutting down","errorType":"Runtime.Exit"}',
                        {"Connection": "close"})
            return False
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        if invocation.client_context:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        if invocation.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
        self._reply(200, invocation.payload, headers)
        return True

    def _post(self, target: str, headers: dict[str, str], body: bytes) -> None:
        error_type = headers.get("lambda-runtime-function-error-type")
        if target == INIT_ERROR:
            self.api.fail_init(body, error_type)
            self._reply(202, b'{"status":"OK"}')
            return
        if target.startswith(PREFIX + "invocation/"):
            request_id, _, kind = target[len(PREFIX + "invocation/"):].partition("/")
            if kind in ("response", "error"):
                if kind == "response" and len(body) > MAX_RESPONSE_BYTES:
                    error = json.dumps({"errorMessage": _LIMIT_MESSAGE, "errorType": "Function.ResponseSizeTooLarge"})
                    self.api.complete(request_id, "error", error.encode(), "Function.ResponseSizeTooLarge")
                    self._reply(413, error.encode())
                    return
                if self.api.complete(request_id, kind, body, error_type):
                    self._reply(202, b'{"status":"OK"}')
                else:
                    self._reply(400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}')
                return
        self._reply(404, b'{"errorMessage":"Not Found","errorType":"NotFound"}')
