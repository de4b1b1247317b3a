"""Lambda execution for the local cloud: each invoke runs in a warm execution environment, as on Lambda.

An execution environment is a bootstrap process talking to its own Lambda Runtime API (:mod:`runtime_api`)
on loopback, as Lambda's sandboxes do: our Python bootstrap (:mod:`lambda_worker`), our Node.js bootstrap
(``node/bootstrap.js``) or a ``provided`` function's own ``bootstrap`` (:mod:`runtimes`). One mechanism for
all of them: environments are pooled per function and reused between invokes, keyed by the function's code
hash and configuration so that an update replaces them; concurrent invokes of one function run in parallel
up to a limit and further invokes wait for a free environment; the init phase has its own budget; a handler
that exceeds the function's ``Timeout`` has its environment killed. Each environment writes its log stream
in CloudWatch Logs (:mod:`lambda_logs`) with START / END / REPORT lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import secrets
import stat
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sfn_callback.localcloud import runtimes
from sfn_callback.localcloud.lambda_logs import CloudWatchLogsWriter, EnvironmentLog, OutputCollector, new_stream_name
from sfn_callback.localcloud.runtime_api import Invocation, RuntimeApi

log = logging.getLogger("sfn_callback.localcloud.lambda")

INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase of an on-demand function

# Variables the Lambda service sets; a function's own configuration cannot override them.
_RESERVED = {"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_LAMBDA_RUNTIME_API", "_HANDLER", "SFN_CALLBACK_LOG_FD",
             "SFN_CALLBACK_PATH_MAP", "SFN_CALLBACK_NODE_SDK"}
# Host variables a bootstrap needs to start at all.
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
    log_group: str = ""

    @property
    def pool_key(self) -> str:
        config = json.dumps([self.runtime, self.handler, self.timeout, self.memory_size, self.log_group,
                             sorted(self.environment.items())])
        return f"{self.code_sha}:{hashlib.sha256(config.encode()).hexdigest()[:16]}"

    @property
    def family(self) -> str:
        # A function created before runtimes were checked (or without one) runs as Python, as before.
        return runtimes.family(self.runtime) or "python"

    @classmethod
    def from_moto(cls, fn: Any) -> FunctionSpec:
        logging_config = getattr(fn, "logging_config", None) or {}
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
            log_group=logging_config.get("LogGroup") or f"/aws/lambda/{fn.function_name}",
        )


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" on any error, as the Lambda API reports it
    duration_ms: float = 0.0
    cold_start: bool = False
    handler_ms: float = 0.0  # time inside the handler's environment for this event (what Lambda bills)
    request_id: str = ""


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


def _max_memory_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return max(1, math.ceil(int(line.split()[1]) / 1024))
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _Environment:
    """One execution environment: a bootstrap process, its Runtime API and its log stream."""

    def __init__(self, spec: FunctionSpec, code_dir: str, env: dict[str, str], command: list[str],
                 writer: CloudWatchLogsWriter | None, runtime_label: str) -> None:
        self.key = spec.pool_key
        self.function = spec.name
        self.family = spec.family
        self.api = RuntimeApi(spec.name)
        stream = new_stream_name(spec.version)
        self.log = EnvironmentLog(writer, spec.name, spec.log_group, stream)
        self.log.platform(f"INIT_START Runtime Version: {runtime_label}")
        env = {**env, "AWS_LAMBDA_RUNTIME_API": self.api.address, "AWS_LAMBDA_LOG_STREAM_NAME": stream}
        out_read, out_write = os.pipe()
        pass_fds: tuple[int, ...] = ()
        channel_read = channel_write = -1
        if self.family != "provided":  # our bootstraps write multi-line records on a channel of their own
            channel_read, channel_write = os.pipe()
            env["SFN_CALLBACK_LOG_FD"] = str(channel_write)
            pass_fds = (channel_write,)
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(command, cwd=code_dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out_write, stderr=out_write, pass_fds=pass_fds)
        except OSError:  # not executable, no interpreter...: the invoke says so
            for fd in (out_read, channel_read):
                if fd >= 0:
                    os.close(fd)
            self.api.close()
            raise
        finally:  # the child has its copies of the write ends
            os.close(out_write)
            if channel_write >= 0:
                os.close(channel_write)
        self.output = OutputCollector(self.log, out_read, channel_read)
        self.init_ms: float | None = None
        self._peak_mb = 0
        self.last_used = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, deadline: float) -> str | dict[str, Any] | None:
        """None when the runtime asked for its first event; its init error; "exit"; or "timeout"."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if self.api.ready.wait(min(remaining, 0.05)):
                if self.api.init_error is not None:
                    return self.api.init_error
                if self.api.closed:
                    return "exit"
                self.init_ms = (self.api.ready_at - self.started) * 1000
                return None
            if not self.alive:
                return self.api.init_error or "exit"

    def wait_result(self, invocation: Invocation, deadline: float) -> str:
        """"done", "timeout" or "exit" (the runtime died during the invocation)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "done" if invocation.done.is_set() else "timeout"
            if invocation.done.wait(min(remaining, 0.05)):
                return "done"
            if not self.alive:
                return "done" if invocation.done.wait(0.05) else "exit"

    def peak_memory(self) -> int:
        """Peak resident memory in MB (the last figure read while the process lived)."""
        if self.alive:
            self._peak_mb = max(self._peak_mb, _max_memory_mb(self.proc.pid))
        return self._peak_mb

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill does not fail on Linux
            pass
        self.api.close()
        self.output.close()


class LambdaExecutor:
    """Runs invokes for the local cloud. Thread-safe; one instance per local cloud."""

    def __init__(self, endpoint_url: str, region: str, concurrency: int = 10, async_retries: int = 2,
                 async_retry_delay: float = 1.0, idle_seconds: float = 600.0,
                 on_invoke: Any = None, logs: CloudWatchLogsWriter | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.concurrency = concurrency
        self.async_retries = async_retries
        self.async_retry_delay = async_retry_delay
        self.idle_seconds = idle_seconds
        self.logs = logs
        self._code_root = tempfile.mkdtemp(prefix="sfn-callback-lambda-")
        self._lock = threading.Lock()
        self._idle: dict[str, list[_Environment]] = {}
        self._busy: set[_Environment] = set()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        # One queue per function, as Lambda keeps one per function: a backlog of one function's events (a
        # thousand schedules firing faster than its concurrency) does not hold up another function's.
        self._async_pools: dict[str, ThreadPoolExecutor] = {}
        self.stats = {"invocations": 0, "errors": 0, "cold_starts": 0, "timeouts": 0}
        # Called as on_invoke(function_name, payload, handler_ms, error) after every invoke (metering).
        self.on_invoke = on_invoke
        self._closed = False

    # -- code and environment -------------------------------------------------------------------
    def _code_dir(self, spec: FunctionSpec) -> str:
        target = os.path.join(self._code_root, spec.code_sha or "empty")
        if not os.path.isdir(target):
            staging = os.path.realpath(tempfile.mkdtemp(dir=self._code_root))
            with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                archive.extractall(staging)
                for info in archive.infolist():  # keep the archive's permissions (a bootstrap's execute bit)
                    mode = (info.external_attr >> 16) & 0o777
                    path = os.path.realpath(os.path.join(staging, info.filename))
                    if mode and not info.is_dir() and path.startswith(staging + os.sep) and os.path.isfile(path):
                        os.chmod(path, mode | stat.S_IRUSR)
            try:
                os.rename(staging, target)
            except OSError:  # another thread extracted the same code first
                pass
        return target

    def _environment(self, spec: FunctionSpec, code_dir: str, sdk_dir: Any) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        env.update({k: v for k, v in spec.environment.items() if k not in _RESERVED})
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
            "LAMBDA_TASK_ROOT": code_dir,
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            # The handler's SDK clients reach the local cloud with no endpoint in its own code.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            # Names the caller in the SDK user agent, so that the local cloud can attribute usage.
            "AWS_SDK_UA_APP_ID": spec.name,
            "SFN_CALLBACK_PATH_MAP": json.dumps(runtimes.path_map(code_dir, sdk_dir)),
        })
        # Python caches the bytecode of the function's modules in its extracted copy (one per code version, ours),
        # so the next cold start of the same code does not compile them again.
        if spec.family == "node" and sdk_dir is not None:
            env["NODE_PATH"] = str(sdk_dir / "node_modules")
            env["SFN_CALLBACK_NODE_SDK"] = str(sdk_dir)
        return env

    def _runtime_label(self, spec: FunctionSpec) -> str:
        if spec.family == "node":
            return f"{spec.runtime} (node {runtimes.node_info().version} on this machine)"
        if spec.family == "python":
            return f"{spec.runtime or 'python3.11'} (Python {runtimes.python_version()} on this machine)"
        return f"{spec.runtime} (the function's bootstrap)"

    def _start(self, spec: FunctionSpec) -> _Environment:
        code_dir = self._code_dir(spec)
        command = runtimes.bootstrap_command(spec.family, code_dir)
        sdk_dir = None
        if spec.family == "node":
            sdk_dir = runtimes.NODE_SDK.wait()  # once per machine: the first Node.js cold start may fetch it
        return _Environment(spec, code_dir, self._environment(spec, code_dir, sdk_dir), command, self.logs,
                            self._runtime_label(spec))

    # -- environment pool -----------------------------------------------------------------------
    def _slot(self, name: str) -> threading.BoundedSemaphore:
        with self._lock:
            if name not in self._slots:
                self._slots[name] = threading.BoundedSemaphore(self.concurrency)
            return self._slots[name]

    def _checkout(self, spec: FunctionSpec) -> tuple[_Environment, bool]:
        with self._lock:
            idle = self._idle.setdefault(spec.name, [])
            # A new code version or configuration replaces the old environments.
            stale = [w for w in idle if w.key != spec.pool_key or not w.alive]
            for w in stale:
                idle.remove(w)
            environment = idle.pop() if idle else None
            if environment is not None:
                self._busy.add(environment)
        for w in stale:
            w.kill()
        if environment is not None:
            return environment, False
        environment = self._start(spec)
        with self._lock:
            self._busy.add(environment)
            self.stats["cold_starts"] += 1
        return environment, True

    def _checkin(self, spec: FunctionSpec, environment: _Environment, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(environment)
            if reusable and environment.alive and not self._closed:
                environment.last_used = time.monotonic()
                self._idle.setdefault(spec.name, []).append(environment)
                return
        environment.kill()

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
        """Synchronous (RequestResponse) invoke; ``request_id`` is given when an async retry reuses its event's."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        request_id = request_id or str(uuid.uuid4())
        slot = self._slot(spec.name)
        slot.acquire()
        started = time.monotonic()
        try:
            result = self._run(spec, payload or b"", request_id)
        finally:
            slot.release()
        result.duration_ms = (time.monotonic() - started) * 1000
        result.request_id = request_id
        with self._lock:
            self.stats["invocations"] += 1
            if result.function_error:
                self.stats["errors"] += 1
        if self.on_invoke is not None:
            try:
                self.on_invoke(spec.name, (payload or b"").decode("utf-8", "replace"), result.handler_ms,
                               bool(result.function_error))
            except Exception:  # metering must never fail an invoke
                log.exception("invoke metering failed")
        return result

    def invoke_async(self, spec: FunctionSpec, payload: bytes | str | None) -> str:
        """Event invoke: queued and run in the background, retried on error as Lambda does (twice), each retry
        with the event's request id. Returns that request id."""
        request_id = str(uuid.uuid4())

        def run() -> None:
            for attempt in range(self.async_retries + 1):
                result = self.invoke(spec, payload, request_id=request_id)
                if not result.function_error:
                    return
                log.warning("async invoke of %s failed (attempt %d/%d, request %s): %s", spec.name, attempt + 1,
                            self.async_retries + 1, request_id, result.payload[:500].decode("utf-8", "replace"))
                if attempt < self.async_retries:
                    time.sleep(self.async_retry_delay * (attempt + 1))
        with self._lock:
            pool = self._async_pools.get(spec.name)
            if pool is None:
                pool = self._async_pools[spec.name] = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix=f"lambda-async-{spec.name}")
        pool.submit(run)
        return request_id

    def _run(self, spec: FunctionSpec, payload: bytes, request_id: str) -> InvokeResult:
        try:
            environment, cold = self._checkout(spec)
        except runtimes.BootstrapError as exc:
            log.error("function %s cannot start: %s", spec.name, exc)
            return _error_result(request_id, exc.error_type, f"RequestId: {request_id} Error: {exc}")
        except (zipfile.BadZipFile, OSError) as exc:
            return _error_result(request_id, "Runtime.InvalidEntrypoint",
                                 f"RequestId: {request_id} Error: Cannot start the function: {exc}")
        # As on Lambda, the init phase (loading the handler) has its own budget and does not eat into the
        # function's timeout; a slow machine must not turn cold starts into timeouts.
        reusable = False
        invocation: Invocation | None = None
        try:
            if cold:
                ready = environment.wait_ready(time.monotonic() + max(INIT_TIMEOUT_SECONDS, spec.timeout))
                if ready == "timeout":
                    return self._timed_out(spec, environment, request_id, 0.0)
                if ready is not None:
                    return self._init_failed(spec, environment, request_id, ready)
            deadline = time.monotonic() + spec.timeout
            invocation = Invocation(request_id, payload, int((time.time() + spec.timeout) * 1000), spec.arn,
                                    _trace_id())
            environment.log.platform(f"START RequestId: {request_id} Version: {spec.version}")
            sent_at = time.monotonic()
            environment.api.dispatch(invocation)
            outcome = environment.wait_result(invocation, deadline)
            handler_ms = (time.monotonic() - sent_at) * 1000
            if outcome == "timeout":
                return self._timed_out(spec, environment, request_id, handler_ms)
            if outcome == "exit":
                status = environment.proc.wait()
                message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
                environment.output.drain()
                environment.log.line(f"{message}\nRuntime.ExitError")
                self._end(spec, environment, request_id, handler_ms, cold)
                return _error_result(request_id, "Runtime.ExitError", message)
            environment.output.drain()  # the function's last lines come before END
            self._end(spec, environment, request_id, handler_ms, cold)
            reusable = True
            if invocation.kind == "response":
                return InvokeResult(invocation.body, cold_start=cold, handler_ms=handler_ms)
            return InvokeResult(self._error_payload(spec, environment, invocation, request_id), "Unhandled",
                                cold_start=cold, handler_ms=handler_ms)
        except (BrokenPipeError, OSError) as exc:
            return _error_result(request_id, "Runtime.ExitError", f"RequestId: {request_id} Error: {exc}")
        finally:
            if invocation is not None:
                environment.api.forget(invocation)
            self._checkin(spec, environment, reusable)

    def _error_payload(self, spec: FunctionSpec, environment: _Environment, invocation: Invocation,
                       request_id: str) -> bytes:
        try:
            error = json.loads(invocation.body or b"{}")
        except ValueError:
            error = {"errorMessage": invocation.body.decode("utf-8", "replace")}
        if not isinstance(error, dict):
            error = {"errorMessage": str(error)}
        error.setdefault("errorType", invocation.error_type or "Unhandled")
        error.setdefault("errorMessage", "")
        if spec.family == "python":
            error["requestId"] = request_id
        return json.dumps(_mask(error, self._paths(spec))).encode("utf-8")

    def _paths(self, spec: FunctionSpec) -> list[list[str]]:
        sdk = runtimes.NODE_SDK.root if spec.family == "node" else None
        return runtimes.path_map(self._code_dir(spec), sdk)

    def _init_failed(self, spec: FunctionSpec, environment: _Environment, request_id: str,
                     ready: str | dict[str, Any]) -> InvokeResult:
        environment.output.drain()
        if isinstance(ready, dict):
            error = dict(ready)
        else:
            error = {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                     f"exit status {environment.proc.wait()}"}
            environment.log.line(f"{error['errorMessage']}\nRuntime.ExitError")
        if spec.family == "python":
            error["requestId"] = request_id
        error = _mask(error, self._paths(spec))
        log.error("function %s failed to initialise: %s %s", spec.name, error.get("errorType"), error.get("errorMessage"))
        environment.log.platform(f"INIT_REPORT Init Duration: {(time.monotonic() - environment.started) * 1000:.2f} ms"
                                 f"\tPhase: init\tStatus: error\tError Type: {error.get('errorType')}")
        return InvokeResult(json.dumps(error).encode(), "Unhandled", cold_start=True)

    def _end(self, spec: FunctionSpec, environment: _Environment, request_id: str, duration_ms: float,
             cold: bool, status: str | None = None) -> None:
        head = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {spec.memory_size} MB\t")
        tail = ""
        if cold and environment.init_ms is not None:
            tail += f"Init Duration: {environment.init_ms:.2f} ms\t"
        if status:
            tail += f"Status: {status}"
        peak = environment.peak_memory

        def report() -> str:  # called by the log writer: the environment's peak resident memory so far
            return f"{head}Max Memory Used: {peak()} MB\t{tail}"

        environment.log.platform(f"END RequestId: {request_id}")
        environment.log.platform(report)

    def _timed_out(self, spec: FunctionSpec, environment: _Environment, request_id: str,
                   handler_ms: float) -> InvokeResult:
        environment.output.drain()
        message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
        environment.log.line(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}.{int(time.time() * 1000) % 1000:03d}Z "
                             f"{request_id} Task timed out after {spec.timeout:.2f} seconds")
        self._end(spec, environment, request_id, max(handler_ms, spec.timeout * 1000.0), False, "timeout")
        environment.kill()
        with self._lock:
            self.stats["timeouts"] += 1
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
            environments = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
            pools = list(self._async_pools.values())
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for w in environments:
            w.kill()


def _mask(value: Any, pairs: list[list[str]]) -> Any:
    """Machine paths out of an error document, at any depth (the function's files stay as /var/task/...)."""
    if isinstance(value, str):
        return runtimes.mask_paths(value, pairs)
    if isinstance(value, list):
        return [_mask(v, pairs) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v, pairs) for k, v in value.items()}
    return value


def _error_result(request_id: str, error_type: str, message: str) -> InvokeResult:
    body = {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    return InvokeResult(json.dumps(body).encode("utf-8"), "Unhandled")
