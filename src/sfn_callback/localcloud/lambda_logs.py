"""Function logs as on Lambda: CloudWatch Logs in moto's logs backend, written in-process.

Each execution environment has one log stream, ``YYYY/MM/DD/[$LATEST]<32 hex>``, in the function's log group
(``/aws/lambda/<name>``, or its ``LoggingConfig.LogGroup``; created if absent). The stream gets the
platform's lines (``INIT_START``, ``START``, ``END``, ``REPORT`` with Duration, Billed Duration, Memory Size,
Max Memory Used and, on a cold start, Init Duration) and everything the function writes: each line of its
stdout and stderr is one event, each record of its runtime's log channel (``console.log``, Python's
``logging``, unhandled errors) is one event however many lines it holds. The same lines still go to the
local cloud's own log (``up``'s output), prefixed with the function's name.

Writes are queued and applied by one thread in batches, under the lock that also serialises moto's logs
API (reads from ``aws logs tail`` and ``filter-log-events`` run on the server's threads meanwhile). A stream
keeps its last ``SFN_CALLBACK_LOG_EVENTS_PER_STREAM`` events (20,000 by default), so that a long benchmark does
not grow the local cloud's memory without bound.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import select
import threading
import time
import uuid
from typing import Any

from sfn_callback.localcloud.patching import mark

log = logging.getLogger("sfn_callback.localcloud.functions")

LOGS_LOCK = threading.RLock()
MAX_EVENTS_PER_STREAM = int(os.environ.get("SFN_CALLBACK_LOG_EVENTS_PER_STREAM", "20000"))
_LOCKED_METHODS = ("create_log_group", "ensure_log_group", "delete_log_group", "describe_log_groups",
                   "create_log_stream", "delete_log_stream", "describe_log_streams", "put_log_events",
                   "get_log_events", "filter_log_events", "start_live_tail", "put_retention_policy",
                   "delete_retention_policy")


def install_logs_lock() -> None:
    """moto's logs backend has no lock: serialise its API with our writer."""
    from moto.logs.models import LogsBackend

    for name in _LOCKED_METHODS:
        original = getattr(LogsBackend, name, None)
        if original is None or getattr(original, "_sfn_callback_locked", False):
            continue

        @functools.wraps(original)
        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with LOGS_LOCK:
                return _original(self, *args, **kwargs)

        mark(locked, "_sfn_callback_locked")
        setattr(LogsBackend, name, locked)


def new_stream_name(version: str = "$LATEST") -> str:
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{uuid.uuid4().hex}"


class CloudWatchLogsWriter:
    """Appends events to moto's logs backend from a background thread, in batches."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        # (group, stream, timestamp, message or a flush marker); None stops the writer
        self._queue: queue.SimpleQueue[tuple[str, str, int, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cloudwatch-logs-writer", daemon=True)
        self._thread.start()
        self.stats = {"events": 0, "errors": 0}

    def put(self, group: str, stream: str, message: Any, timestamp_ms: int | None = None) -> None:
        self._queue.put((group, stream, timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
                         message))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far is written (tests and shutdown)."""
        marker = threading.Event()
        self._queue.put(("", "", 0, marker))
        marker.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while True:  # take whatever else is waiting: one lock and one append per stream
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(entry is None for entry in batch)
            try:
                self._write([entry for entry in batch if entry is not None])
            except Exception:  # never lose the writer thread
                self.stats["errors"] += 1
                logging.getLogger("sfn_callback.localcloud").exception("writing function logs failed")
            if stop:
                return

    def _write(self, batch: list[tuple[str, str, int, Any]]) -> None:
        from moto.logs.models import logs_backends

        streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
        markers = []
        for group, stream, timestamp, message in batch:
            if isinstance(message, threading.Event):
                markers.append(message)
                continue
            if callable(message):
                message = message()
            streams.setdefault((group, stream), []).append({"timestamp": timestamp, "message": message})
        if streams:
            backend = logs_backends[self.account_id][self.region]
            with LOGS_LOCK:
                for (group, stream), events in streams.items():
                    if group not in backend.groups:
                        backend.ensure_log_group(group)
                    log_group = backend.groups[group]
                    if stream not in log_group.streams:
                        log_group.create_log_stream(stream)
                    log_stream = log_group.streams[stream]
                    log_stream.put_log_events(events)
                    if len(log_stream.events) > MAX_EVENTS_PER_STREAM:
                        del log_stream.events[:len(log_stream.events) - MAX_EVENTS_PER_STREAM]
                    self.stats["events"] += len(events)
        for marker in markers:
            marker.set()


class EnvironmentLog:
    """The log stream of one execution environment: platform lines and the function's own output."""

    def __init__(self, writer: CloudWatchLogsWriter | None, function: str, group: str, stream: str) -> None:
        self.writer = writer
        self.function = function
        self.group = group
        self.stream = stream

    def line(self, message: str) -> None:
        """A line the function wrote: to CloudWatch Logs and to the local cloud's log."""
        log.info("[%s] %s", self.function, message.replace("\n", "\n    "))
        if self.writer is not None:
            self.writer.put(self.group, self.stream, message)

    def platform(self, message: Any) -> None:
        """A line of the platform's (START, END, REPORT): to CloudWatch Logs only. A callable is called by the
        writer thread (a REPORT's memory figure is read there, off the invoke's path)."""
        if self.writer is not None:
            self.writer.put(self.group, self.stream, message)


class OutputCollector:
    """Reads a bootstrap's output: stdout+stderr (one event per line) and the runtime's log channel (one event
    per JSON-string line). ``drain()`` takes what the process has written so far, so that a function's last
    lines come before the END line written after its response."""

    def __init__(self, sink: EnvironmentLog, output_fd: int, channel_fd: int = -1) -> None:
        self.sink = sink
        self._fds = {fd: b"" for fd in (output_fd, channel_fd) if fd >= 0}
        self._channel_fd = channel_fd
        self._lock = threading.Lock()
        for fd in self._fds:
            os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._run, name=f"lambda-log-{sink.function}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                fds = list(self._fds)
            if not fds:
                return
            try:
                readable, _, _ = select.select(fds, [], [], 1.0)
            except (OSError, ValueError):
                return
            if readable:
                with self._lock:
                    for fd in readable:
                        self._read(fd)

    def drain(self) -> None:
        with self._lock:
            while True:
                fds = list(self._fds)
                if not fds:
                    return
                try:
                    readable, _, _ = select.select(fds, [], [], 0)
                except (OSError, ValueError):
                    return
                if not readable:
                    return
                for fd in readable:
                    self._read(fd)

    def _read(self, fd: int) -> None:
        """Read what ``fd`` has (caller holds the lock); EOF closes it."""
        if fd not in self._fds:
            return
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        buffered = self._fds[fd] + chunk
        if not chunk:  # EOF: whatever is left is a last line
            if buffered:
                self._emit(fd, buffered)
            del self._fds[fd]
            os.close(fd)
            return
        *lines, rest = buffered.split(b"\n")
        self._fds[fd] = rest
        for line in lines:
            self._emit(fd, line)

    def _emit(self, fd: int, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if fd == self._channel_fd:
            try:
                message = json.loads(text)
            except ValueError:
                message = text
            self.sink.line(message if isinstance(message, str) else json.dumps(message))
        else:
            self.sink.line(text.rstrip("\r"))

    def close(self) -> None:
        """Read what is left; the reader stops at EOF (the process has exited)."""
        self.drain()
