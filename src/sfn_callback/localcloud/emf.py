"""CloudWatch Embedded Metric Format: log events that carry metrics, turned into metric data.

CloudWatch Logs extracts metrics from every log event that is an EMF document (since 2023 no
``x-amzn-logs-format: json/emf`` header is needed). The rules followed here are the EMF specification's
(CloudWatch user guide, "Specification: Embedded metric format"):

* the event is one JSON object (on Lambda, optionally after a tab-separated prefix such as a timestamp and
  request id) whose root member ``_aws`` is an object holding ``Timestamp`` (milliseconds since the epoch)
  and ``CloudWatchMetrics``, an array of metric directives;
* a directive holds ``Namespace`` (1-255 characters), ``Dimensions`` (an array of dimension sets, each an
  array of at most 30 keys; an empty set publishes the metric without dimensions) and ``Metrics`` (at most
  100 definitions, each ``Name``, optional ``Unit`` among CloudWatch's units, optional
  ``StorageResolution`` 1 or 60);
* every dimension key and metric name refers to a member of the root; a dimension member must be a string,
  a metric member a number or an array of at most 100 numbers (each one a value of the metric);
* every dimension set of a directive publishes each of its metrics once, with that set's dimensions;
* metric timestamps older than 14 days or more than 2 hours ahead are refused, as ``PutMetricData`` does.

A document that breaks a rule publishes nothing (the log event itself is stored as written: the writer never
sees an error); the reason is logged, and counted as CloudWatch counts it, in ``AWS/Logs``
``EMFValidationErrors`` (or ``EMFParsingErrors`` for an ``_aws`` document that is not valid JSON) with the
``LogGroupName`` dimension. :func:`parse` is pure; :func:`install` hooks moto's log streams so that every
write path (``PutLogEvents`` from a client, the local cloud's own writes of Lambda output) is covered.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from sfn_callback.localcloud.patching import mark, replace

log = logging.getLogger("sfn_callback.localcloud.emf")

MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100
MAX_NAME = 255
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})
OLDEST_SECONDS = 14 * 86400
NEWEST_SECONDS = 2 * 3600


class EmfError(ValueError):
    """The event is an EMF document that breaks the specification. ``kind``: ``parsing`` or ``validation``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class MetricValue:
    """One metric of one dimension set of one document: what becomes metric data."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    values: tuple[float, ...]
    unit: str
    storage_resolution: int
    timestamp_ms: int


def _document_text(message: str) -> str | None:
    """The JSON object of an event, or ``None`` when the event cannot be an EMF document."""
    text = message.strip()
    if text.startswith("{"):
        return text
    # On Lambda a prefix (timestamp, request id, level) may come before the document, tab-separated.
    tab = text.rfind("\t{")
    if tab >= 0 and '"_aws"' in text[tab:]:
        return text[tab + 1:]
    return None


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse(message: str, now_ms: int | None = None) -> list[MetricValue]:
    """The metrics of one log event: ``[]`` for an event that is not an EMF document; raises :class:`EmfError`
    for an EMF document that breaks the specification (nothing of it is published)."""
    text = _document_text(message)
    if text is None or '"_aws"' not in text:
        return []
    try:
        root = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except (ValueError, RecursionError) as exc:
        raise EmfError("parsing", f"not valid JSON: {exc}") from None
    if not isinstance(root, dict) or "_aws" not in root:
        return []
    meta = root["_aws"]
    if not isinstance(meta, dict):
        raise EmfError("validation", "_aws must be an object")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("validation", "_aws.CloudWatchMetrics must be an array of metric directives")
    stamp = meta.get("Timestamp")
    if not _number(stamp):
        raise EmfError("validation", "_aws.Timestamp must be a number of milliseconds since the epoch")
    timestamp_ms = int(stamp)
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if timestamp_ms < now_ms - OLDEST_SECONDS * 1000 or timestamp_ms > now_ms + NEWEST_SECONDS * 1000:
        raise EmfError("validation", f"_aws.Timestamp {timestamp_ms} is more than 14 days old or more than "
                                     "2 hours in the future")
    found: list[MetricValue] = []
    for d, directive in enumerate(directives):
        where = f"CloudWatchMetrics[{d}]"
        if not isinstance(directive, dict):
            raise EmfError("validation", f"{where} must be an object")
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= MAX_NAME:
            raise EmfError("validation", f"{where}.Namespace must be a string of 1 to {MAX_NAME} characters")
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list):
            raise EmfError("validation", f"{where}.Dimensions must be an array of dimension sets")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list):
            raise EmfError("validation", f"{where}.Metrics must be an array of metric definitions")
        if len(metrics) > MAX_METRICS:
            raise EmfError("validation", f"{where}.Metrics holds {len(metrics)} definitions, more than {MAX_METRICS}")
        resolved_sets = []
        for s, dimension_set in enumerate(dimension_sets or [[]]):
            if not isinstance(dimension_set, list) or not all(isinstance(k, str) for k in dimension_set):
                raise EmfError("validation", f"{where}.Dimensions[{s}] must be an array of strings")
            if len(dimension_set) > MAX_DIMENSIONS:
                raise EmfError("validation", f"{where}.Dimensions[{s}] holds {len(dimension_set)} keys, more "
                                             f"than {MAX_DIMENSIONS}")
            pairs = {}
            for key in dimension_set:
                value = root.get(key)
                if not isinstance(value, str):
                    raise EmfError("validation", f"dimension {key!r} must be a string member of the root")
                if not 1 <= len(key) <= MAX_NAME or not 1 <= len(value) <= 1024:
                    raise EmfError("validation", f"dimension {key!r} has an empty or too long name or value")
                pairs[key] = value
            resolved_sets.append(tuple(sorted(pairs.items())))
        for m, definition in enumerate(metrics):
            if not isinstance(definition, dict):
                raise EmfError("validation", f"{where}.Metrics[{m}] must be an object")
            name = definition.get("Name")
            if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
                raise EmfError("validation", f"{where}.Metrics[{m}].Name must be a string of 1 to {MAX_NAME} "
                                             "characters")
            unit = definition.get("Unit", "None")
            if unit not in UNITS:
                raise EmfError("validation", f"metric {name!r}: {unit!r} is not a CloudWatch unit")
            resolution = definition.get("StorageResolution", 60)
            if resolution not in (1, 60) or isinstance(resolution, bool):
                raise EmfError("validation", f"metric {name!r}: StorageResolution must be 1 or 60")
            if name not in root:
                raise EmfError("validation", f"metric {name!r} has no member of that name on the root")
            target = root[name]
            values = target if isinstance(target, list) else [target]
            if not values or not all(_number(v) for v in values):
                raise EmfError("validation", f"metric {name!r} must be a number or an array of numbers")
            if len(values) > MAX_VALUES:
                raise EmfError("validation", f"metric {name!r} holds {len(values)} values, more than {MAX_VALUES}")
            for dims in resolved_sets:
                found.append(MetricValue(namespace, name, dims, tuple(float(v) for v in values), unit,
                                         int(resolution), timestamp_ms))
    return found


# -- wiring into moto ---------------------------------------------------------------------------------
Sink = Callable[[str, str, list[MetricValue]], None]  # (account, region, metrics)


class EmfStats:
    """Counts for ``/health``: documents that published metrics, metric values published, invalid documents."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.documents = self.metrics = self.invalid = 0

    def count(self, documents: int = 0, metrics: int = 0, invalid: int = 0) -> None:
        with self._lock:
            self.documents += documents
            self.metrics += metrics
            self.invalid += invalid

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {"documents": self.documents, "metrics": self.metrics, "invalid": self.invalid}


def extract(account_id: str, region: str, log_group: str, events: list[dict[str, Any]], sink: Sink,
            errors: Callable[[str, str, str, str], None], stats: EmfStats) -> None:
    """Publish the metrics of ``events`` (moto's input log events: ``message``, ``timestamp``)."""
    for event in events:
        message = event.get("message")
        if not isinstance(message, str) or '"_aws"' not in message:
            continue
        try:
            metrics = parse(message)
        except EmfError as exc:
            stats.count(invalid=1)
            log.warning("EMF document in %s ignored (%s error): %s", log_group, exc.kind, exc)
            errors(account_id, region, log_group, exc.kind)
            continue
        if metrics:
            stats.count(documents=1, metrics=len(metrics))
            sink(account_id, region, metrics)


def install(sink: Sink, errors: Callable[[str, str, str, str], None], stats: EmfStats) -> None:
    """Hook moto's ``LogStream.put_log_events``: what every accepted log event of every write path passes."""
    from moto.logs.models import LogStream

    original = LogStream.put_log_events
    if getattr(original, "_sfn_callback_emf", False):
        return

    def put_log_events(self: Any, log_events: list[dict[str, Any]]) -> str:
        token = original(self, log_events)
        try:
            extract(self.account_id, self.region, self.log_group.name, log_events, sink, errors, stats)
        except Exception:  # metric extraction must never fail the writer
            log.exception("EMF extraction failed for %s", self.log_group.name)
        return token

    mark(put_log_events, "_sfn_callback_emf")
    replace(LogStream, "put_log_events", put_log_events)
