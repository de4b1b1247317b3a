"""The one metrics helper every component uses: Powertools Metrics documents (CloudWatch Embedded Metric Format).

:func:`emit` builds one EMF document with Powertools' ``EphemeralMetrics`` (no state shared with any other
``Metrics`` object of the process) in :data:`names.NAMESPACE`, with the component as Powertools' ``service``
dimension plus any extra dimensions, and hands it to the process's publisher:

* inside a Lambda function (``AWS_LAMBDA_FUNCTION_NAME`` set), or by default: one JSON line on stdout, which the
  Lambda runtime sends to CloudWatch Logs, where it becomes metrics (on AWS and on the local cloud);
* in a long-running process (the approval service): :class:`LogsPublisher` writes the document to a log group
  with ``PutLogEvents`` and the ``x-amzn-logs-format: json/emf`` header, which is how CloudWatch Logs is told
  to extract metrics from events not written by Lambda.

**Metrics never break the work they measure**: any error while building or publishing a document is logged
(a warning, once per kind of error and minute) and swallowed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sfn_callback.metrics import names

log = logging.getLogger("sfn_callback.monitoring")

COUNT = "Count"
MILLISECONDS = "Milliseconds"
SECONDS = "Seconds"

Publisher = Callable[[dict[str, Any]], None]
Values = Mapping[str, "tuple[str, float]"]


def stdout_publisher(document: dict[str, Any]) -> None:
    print(json.dumps(document, separators=(",", ":")), flush=True)


_publisher: Publisher = stdout_publisher
_warned: dict[str, float] = {}


def set_publisher(publisher: Publisher | None) -> None:
    """Where this process's documents go (``None``: back to stdout)."""
    global _publisher
    _publisher = publisher or stdout_publisher


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def document(component: str, values: Values, dimensions: Mapping[str, str] | None = None,
             namespace: str = names.NAMESPACE) -> dict[str, Any]:
    """The EMF document Powertools writes for ``values`` (``{name: (unit, value)}``)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    metrics = EphemeralMetrics(namespace=namespace, service=component)
    for key, dimension in (dimensions or {}).items():
        metrics.add_dimension(name=key, value=str(dimension) or "Unknown")
    for name, (unit, value) in values.items():
        metrics.add_metric(name=name, unit=unit, value=float(value))
    return dict(metrics.serialize_metric_set())


def emit(component: str, values: Values, dimensions: Mapping[str, str] | None = None,
         publisher: Publisher | None = None) -> None:
    """Publish ``values`` for ``component`` (with ``publisher``, else the process's); never raises."""
    if not values:
        return
    try:
        (publisher or _publisher)(document(component, values, dimensions))
    except Exception as exc:  # a metric must never fail the callback, poll or decision it describes
        _warn_once(exc)


def count(component: str, name: str, value: float = 1, **dimensions: str) -> None:
    emit(component, {name: (COUNT, value)}, dimensions or None)


def _warn_once(exc: BaseException) -> None:
    kind = type(exc).__name__
    now = time.monotonic()
    if now - _warned.get(kind, -1e9) >= 60:
        _warned[kind] = now
        log.warning("metrics not published (%s: %s); the work they describe goes on", kind, str(exc)[:300])


class LogsPublisher:
    """Writes EMF documents to a CloudWatch Logs group (created with its stream when missing)."""

    def __init__(self, logs_client: Any, group: str, stream: str | None = None) -> None:
        self.logs = logs_client
        self.group = group
        self.stream = stream or f"{time.strftime('%Y/%m/%d')}/{os.getpid()}"
        self._ready = False
        self._lock = threading.Lock()
        logs_client.meta.events.register("before-sign.logs.PutLogEvents", _emf_header)

    def _ensure(self) -> None:
        for call, kwargs in ((self.logs.create_log_group, {"logGroupName": self.group}),
                             (self.logs.create_log_stream, {"logGroupName": self.group, "logStreamName": self.stream})):
            try:
                call(**kwargs)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass
        self._ready = True

    def __call__(self, doc: dict[str, Any]) -> None:
        with self._lock:
            if not self._ready:
                self._ensure()
            event = {"timestamp": int(doc.get("_aws", {}).get("Timestamp") or time.time() * 1000),
                     "message": json.dumps(doc, separators=(",", ":"))}
            try:
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=[event])
            except self.logs.exceptions.ResourceNotFoundException:
                self._ensure()
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=[event])


def _emf_header(request: Any, **_: Any) -> None:
    request.headers["x-amzn-logs-format"] = "json/emf"
