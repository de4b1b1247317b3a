"""Lambda execution for the local cloud: runs a deployed zip's Python handler in warm worker processes.

Each function gets a pool of worker subprocesses (:mod:`lambda_worker`), reused between invokes as Lambda
reuses execution environments, keyed by the function's code hash and configuration so that an update
replaces them. Concurrent invokes of one function run in parallel up to a limit; further invokes wait
for a free environment. A handler that exceeds the function's ``Timeout`` has its worker killed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("sfn_callback.localcloud.lambda")

INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase of an on-demand function

# Variables the Lambda service sets; a function's own configuration cannot override them.
_RESERVED = {"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY"}
# Host variables a worker needs to start Python at all.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "SYSTEMROOT", "VIRTUAL_ENV")


@dataclass(frozen=True)
class FunctionSpec:
    """What an invoke needs to know about a function, read from moto's function object."""

    name: str
    arn: str
    version: str
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    code_sha: str
    code_bytes: bytes = field(repr=False, compare=False)

    @property
    def pool_key(self) -> str:
        config = json.dumps([self.handler, self.timeout, self.memory_size, sorted(self.environment.items())])
        return f"{self.code_sha}:{hashlib.sha256(config.encode()).hexdigest()[:16]}"

    @classmethod
    def from_moto(cls, fn: Any) -> "FunctionSpec":
        return cls(
            name=fn.function_name,
            arn=fn.function_arn,
            version=str(fn.version),
            handler=fn.handler or "",
            runtime=fn.run_time or "",
            timeout=int(fn.timeout or 3),
            memory_size=int(fn.memory_size or 128),
            environment={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
            code_sha=getattr(fn, "code_digest", "") or hashlib.sha256(fn.code_bytes or b"").hexdigest(),
            code_bytes=fn.code_bytes or b"",
        )


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" on any error, as the Lambda API reports it
    duration_ms: float = 0.0
    cold_start: bool = False
    handler_ms: float = 0.0  # time inside the handler's worker for this event (what Lambda bills)


class _Worker:
    """One warm execution environment."""

    def __init__(self, spec: FunctionSpec, code_dir: str, env: dict[str, str], log_sink: "LogSink") -> None:
        self.key = spec.pool_key
        self.function = spec.name
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "sfn_callback.localcloud.lambda_worker", code_dir, spec.handler],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, text=True, bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True, name=f"lambda-out-{spec.name}").start()
        threading.Thread(target=log_sink.follow, args=(spec.name, self.proc.stderr), daemon=True,
                         name=f"lambda-log-{spec.name}").start()
        self.last_used = time.monotonic()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, ``None`` on exit; raises ``queue.Empty`` on timeout."""
        line = self._lines.get(timeout=max(timeout, 0.001))
        return None if line is None else json.loads(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill does not fail on Linux
            pass


class LogSink:
    """Where function output goes: the local cloud's log, one line per handler line, prefixed."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("sfn_callback.localcloud.functions")

    def follow(self, function_name: str, stream: Any) -> None:
        for line in stream:
            self.logger.info("[%s] %s", function_name, line.rstrip("\n"))


class LambdaExecutor:
    """Runs invokes for the local cloud. Thread-safe; one instance per local cloud."""

    def __init__(self, endpoint_url: str, region: str, concurrency: int = 10, async_retries: int = 2,
                 async_retry_delay: float = 1.0, idle_seconds: float = 600.0,
                 on_invoke: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.concurrency = concurrency
        self.async_retries = async_retries
        self.async_retry_delay = async_retry_delay
        self.idle_seconds = idle_seconds
        self._code_root = tempfile.mkdtemp(prefix="sfn-callback-lambda-")
        self._lock = threading.Lock()
        self._idle: dict[str, list[_Worker]] = {}
        self._busy: set[_Worker] = set()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        # One queue per function, as Lambda keeps one per function: a backlog of one function's events (a
        # thousand schedules firing faster than its concurrency) does not hold up another function's.
        self._async_pools: dict[str, ThreadPoolExecutor] = {}
        self._log_sink = LogSink()
        self.stats = {"invocations": 0, "errors": 0, "cold_starts": 0, "timeouts": 0}
        # Called as on_invoke(function_name, payload, handler_ms, error) after every invoke (metering).
        self.on_invoke = on_invoke
        self._closed = False

    # -- code and environment -------------------------------------------------------------------
    def _code_dir(self, spec: FunctionSpec) -> str:
        target = os.path.join(self._code_root, spec.code_sha or "empty")
        if not os.path.isdir(target):
            staging = tempfile.mkdtemp(dir=self._code_root)
            with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                archive.extractall(staging)
            try:
                os.rename(staging, target)
            except OSError:  # another thread extracted the same code first
                pass
        return target

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        env.update({k: v for k, v in spec.environment.items() if k not in _RESERVED})
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "LAMBDA_TASK_ROOT": self._code_dir(spec),
            # The handler's boto3 clients reach the local cloud with no endpoint in its own code.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Names the caller in the SDK user agent, so that the local cloud can attribute usage.
            "AWS_SDK_UA_APP_ID": spec.name,
        })
        return env

    # -- worker pool ----------------------------------------------------------------------------
    def _slot(self, name: str) -> threading.BoundedSemaphore:
        with self._lock:
            if name not in self._slots:
                self._slots[name] = threading.BoundedSemaphore(self.concurrency)
            return self._slots[name]

    def _checkout(self, spec: FunctionSpec) -> tuple[_Worker, bool]:
        with self._lock:
            idle = self._idle.setdefault(spec.name, [])
            # A new code version or configuration replaces the old environments.
            stale = [w for w in idle if w.key != spec.pool_key or not w.alive]
            for w in stale:
                idle.remove(w)
            while idle:
                worker = idle.pop()
                self._busy.add(worker)
                break
            else:
                worker = None
        for w in stale:
            w.kill()
        if worker is not None:
            return worker, False
        worker = _Worker(spec, self._code_dir(spec), self._environment(spec), self._log_sink)
        with self._lock:
            self._busy.add(worker)
            self.stats["cold_starts"] += 1
        return worker, True

    def _checkin(self, spec: FunctionSpec, worker: _Worker, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            if reusable and worker.alive and not self._closed:
                worker.last_used = time.monotonic()
                self._idle.setdefault(spec.name, []).append(worker)
                return
        worker.kill()

    def reap_idle(self) -> int:
        """Stop environments idle for longer than ``idle_seconds``; returns how many."""
        now = time.monotonic()
        with self._lock:
            doomed = [w for ws in self._idle.values() for w in ws if now - w.last_used > self.idle_seconds]
            for ws in self._idle.values():
                ws[:] = [w for w in ws if w not in doomed]
        for w in doomed:
            w.kill()
        return len(doomed)

    # -- invoke ---------------------------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, payload: bytes | str | None, request_id: str | None = None) -> InvokeResult:
        """Synchronous (RequestResponse) invoke (``request_id``: an async invoke's, kept across its retries)."""
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8")
        request_id = request_id or str(uuid.uuid4())
        slot = self._slot(spec.name)
        slot.acquire()
        started = time.monotonic()
        try:
            result = self._run(spec, payload or "", request_id)
        finally:
            slot.release()
        result.duration_ms = (time.monotonic() - started) * 1000
        with self._lock:
            self.stats["invocations"] += 1
            if result.function_error:
                self.stats["errors"] += 1
        if self.on_invoke is not None:
            try:
                self.on_invoke(spec.name, payload, result.handler_ms, bool(result.function_error))
            except Exception:  # metering must never fail an invoke
                log.exception("invoke metering failed")
        return result

    def invoke_async(self, spec: FunctionSpec, payload: bytes | str | None) -> None:
        """Event invoke: queued and run in the background, retried on error as Lambda does (twice), with the
        same request id (``context.aws_request_id``) on every attempt, as on Lambda."""
        request_id = str(uuid.uuid4())

        def run() -> None:
            for attempt in range(self.async_retries + 1):
                result = self.invoke(spec, payload, request_id)
                if not result.function_error:
                    return
                log.warning("async invoke of %s failed (attempt %d/%d): %s", spec.name, attempt + 1,
                            self.async_retries + 1, result.payload[:500].decode("utf-8", "replace"))
                if attempt < self.async_retries:
                    time.sleep(self.async_retry_delay * (attempt + 1))
        with self._lock:
            pool = self._async_pools.get(spec.name)
            if pool is None:
                pool = self._async_pools[spec.name] = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix=f"lambda-async-{spec.name}")
        pool.submit(run)

    def _run(self, spec: FunctionSpec, payload: str, request_id: str) -> InvokeResult:
        try:
            worker, cold = self._checkout(spec)
        except (zipfile.BadZipFile, OSError) as exc:
            return _error_result(request_id, "Runtime.InvalidEntrypoint", f"Cannot start the function: {exc}")
        # As on Lambda, the init phase (importing the handler's module) has its own budget and does not
        # eat into the function's timeout; a slow machine must not turn cold starts into timeouts.
        deadline = time.time() + max(INIT_TIMEOUT_SECONDS, spec.timeout)
        reusable = False
        try:
            if cold:
                try:
                    first = worker.receive(timeout=deadline - time.time())
                except queue.Empty:
                    return self._timed_out(spec, worker, request_id)
                if first is None or first.get("type") == "init_error":
                    error = (first or {}).get("error") or {
                        "errorType": "Runtime.ExitError",
                        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                        f"exit status {worker.proc.poll()}"}
                    log.error("function %s failed to initialise: %s", spec.name, error.get("errorMessage"))
                    return InvokeResult(json.dumps(error).encode(), "Unhandled", cold_start=True)
            deadline = time.time() + spec.timeout
            sent_at = time.monotonic()
            worker.send({
                "requestId": request_id,
                "payload": payload,
                "deadlineMs": int(deadline * 1000),
                "context": {"functionName": spec.name, "functionVersion": spec.version,
                            "invokedFunctionArn": spec.arn, "memoryLimitInMB": spec.memory_size,
                            "logStreamName": f"{time.strftime('%Y/%m/%d')}/[{spec.version}]{request_id[:8]}"},
            })
            try:
                reply = worker.receive(timeout=deadline - time.time())
            except queue.Empty:
                return self._timed_out(spec, worker, request_id)
            if reply is None:
                return _error_result(request_id, "Runtime.ExitError",
                                     f"RequestId: {request_id} Error: Runtime exited with error: "
                                     f"exit status {worker.proc.wait()}")
            reusable = True
            handler_ms = (time.monotonic() - sent_at) * 1000
            if reply["type"] == "result":
                return InvokeResult(reply["payload"].encode("utf-8"), cold_start=cold, handler_ms=handler_ms)
            error = dict(reply["error"])
            error["requestId"] = request_id
            return InvokeResult(json.dumps(error).encode("utf-8"), "Unhandled", cold_start=cold,
                                handler_ms=handler_ms)
        except (BrokenPipeError, OSError) as exc:
            return _error_result(request_id, "Runtime.ExitError", f"RequestId: {request_id} Error: {exc}")
        finally:
            self._checkin(spec, worker, reusable)

    def _timed_out(self, spec: FunctionSpec, worker: _Worker, request_id: str) -> InvokeResult:
        worker.kill()
        with self._lock:
            self.stats["timeouts"] += 1
        message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
        log.error("function %s: %s", spec.name, message)
        result = _error_result(request_id, "Sandbox.Timedout", message)
        result.handler_ms = spec.timeout * 1000.0  # a timed-out invoke is billed for its whole timeout
        return result

    def worker_count(self) -> int:
        with self._lock:
            return len(self._busy) + sum(len(ws) for ws in self._idle.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
            pools = list(self._async_pools.values())
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for w in workers:
            w.kill()


def _error_result(request_id: str, error_type: str, message: str) -> InvokeResult:
    body = {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    return InvokeResult(json.dumps(body).encode("utf-8"), "Unhandled")
