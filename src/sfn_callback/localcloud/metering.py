"""Usage metering inside the local cloud: what AWS would bill, counted where it happens.

Served as ``GET /_sfn_callback/metrics`` (JSON). Four sources, none of which needs handler code changes:

* Lambda: every invoke the runtime runs (direct, from a state machine, a schedule or a queue), with the
  handler's own duration (time inside the worker, not queueing or a cold start's process spawn);
* Scheduler: every target delivery of the schedule runner, by target function;
* DynamoDB: request units per request computed from the real items' sizes
  (:mod:`sfn_callback.localcloud.capacity`), hooked into moto's DynamoDB request handler;
* API requests per service and operation (SQS requests among them), counted in the WSGI front.

Attribution: each usage is recorded under its *caller* (the calling function's name, from the
``app/<name>`` part of the SDK user agent that the Lambda runtime sets through ``AWS_SDK_UA_APP_ID``;
``client`` otherwise) and, when the request names one job, under that job's *tag*: the ``jobId`` or
``executionId`` of a Lambda payload or schedule input, the ``jobId`` key of a DynamoDB item. Invocations
that name no job (a sweep over many jobs) are kept as timed events so that their usage can be shared among
the jobs waiting at that moment.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from typing import Any

from sfn_callback.localcloud.patching import replace

CLIENT = "client"
_APP_ID = re.compile(r"(?:^|\s)app/([A-Za-z0-9_.\-]+)")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9\-]+)/aws4_request")


def caller_from_user_agent(user_agent: str | None) -> str:
    """The calling function named by ``app/<name>`` in the user agent, or ``client``."""
    match = _APP_ID.search(user_agent or "")
    return match.group(1) if match else CLIENT


def service_from_authorization(authorization: str | None) -> str | None:
    """The signing service of a SigV4 request (``sqs``, ``dynamodb``, ``states``, ...)."""
    match = _SCOPE.search(authorization or "")
    return match.group(1) if match else None


def job_tags(payload: Any) -> list[str]:
    """The job identifiers a Lambda payload or schedule input names (``jobId``, ``executionId``)."""
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8", "replace")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if payload else None
        except ValueError:
            return []
    if not isinstance(payload, dict):
        return []
    return [v for k in ("jobId", "executionId") if isinstance(v := payload.get(k), str) and v]


def _dynamo_tag(key_or_item: Any) -> str | None:
    if isinstance(key_or_item, dict):
        value = key_or_item.get("jobId")
        if isinstance(value, dict) and isinstance(value.get("S"), str):
            return value["S"]
    return None


def _new_usage() -> dict[str, Any]:
    return {"lambda": {}, "scheduler": {}, "dynamodb": {}}


class Metering:
    """Thread-safe usage store of one local cloud."""

    def __init__(self, max_events: int = 200_000, max_jobs: int = 100_000) -> None:
        self._lock = threading.Lock()
        self.started_at = time.time()
        self._totals = _new_usage()
        self._untagged: dict[str, Any] = {"dynamodb": {}}  # DynamoDB requests that named no job (queries), by caller
        self._jobs: dict[str, dict[str, Any]] = {}
        self._max_jobs = max_jobs
        self._events: deque[list[Any]] = deque(maxlen=max_events)
        self._requests: dict[str, dict[str, int]] = {}
        self._requests_by_caller: dict[str, dict[str, int]] = {}

    def _job(self, tag: str) -> dict[str, Any] | None:
        usage = self._jobs.get(tag)
        if usage is None:
            if len(self._jobs) >= self._max_jobs:
                return None
            usage = self._jobs[tag] = _new_usage()
        return usage

    # -- recording -------------------------------------------------------------------------------
    def lambda_invocation(self, function: str, payload: Any, duration_ms: float, error: bool) -> None:
        tags = job_tags(payload)
        now = time.time()
        with self._lock:
            total = self._totals["lambda"].setdefault(function, {"invocations": 0, "errors": 0, "duration_ms": 0.0})
            total["invocations"] += 1
            total["errors"] += int(error)
            total["duration_ms"] += duration_ms
            if not tags:
                self._events.append([round(now, 3), function, round(duration_ms, 3)])
            for tag in tags[:1]:  # one job per invocation, even when the payload names it twice
                usage = self._job(tag)
                if usage is not None:
                    entry = usage["lambda"].setdefault(function, {"invocations": 0, "durations_ms": []})
                    entry["invocations"] += 1
                    entry["durations_ms"].append(round(duration_ms, 3))

    def scheduler_delivery(self, target_arn: str, payload: Any) -> None:
        function = target_arn.rsplit(":", 1)[-1]
        tags = job_tags(payload)
        with self._lock:
            self._totals["scheduler"][function] = self._totals["scheduler"].get(function, 0) + 1
            for tag in tags[:1]:
                usage = self._job(tag)
                if usage is not None:
                    usage["scheduler"][function] = usage["scheduler"].get(function, 0) + 1

    def dynamodb(self, caller: str, table: str, tag: str | None, rcu: float, wcu: float) -> None:
        def add(usage: dict[str, Any]) -> None:
            per_table = usage["dynamodb"].setdefault(caller, {}).setdefault(
                table, {"rcu": 0.0, "wcu": 0.0, "requests": 0})
            per_table["rcu"] += rcu
            per_table["wcu"] += wcu
            per_table["requests"] += 1

        with self._lock:
            add(self._totals)
            if tag is None:
                add(self._untagged)
            else:
                usage = self._job(tag)
                if usage is not None:
                    add(usage)

    def request(self, service: str, operation: str, caller: str = CLIENT) -> None:
        with self._lock:
            ops = self._requests.setdefault(service, {})
            ops[operation] = ops.get(operation, 0) + 1
            services = self._requests_by_caller.setdefault(caller, {})
            services[service] = services.get(service, 0) + 1

    # -- reading ---------------------------------------------------------------------------------
    def snapshot(self, jobs: list[str] | None = None, detail: bool = True, since: float | None = None) -> dict[str, Any]:
        """Totals and API requests; with ``detail`` also per-job usage (only ``jobs`` when given) and the
        untagged invocation events (only those at or after ``since`` when given)."""
        with self._lock:
            doc: dict[str, Any] = {
                "started_at": self.started_at,
                "now": time.time(),
                "totals": json.loads(json.dumps(self._totals)),
                "untagged": json.loads(json.dumps(self._untagged)),
                "requests": json.loads(json.dumps(self._requests)),
                "requests_by_caller": json.loads(json.dumps(self._requests_by_caller)),
            }
            if detail:
                selected = self._jobs if jobs is None else {t: self._jobs[t] for t in jobs if t in self._jobs}
                doc["jobs"] = json.loads(json.dumps(selected))
                doc["untagged_invocations"] = [e for e in self._events if since is None or e[0] >= since]
        return doc


# -- hooks into moto -------------------------------------------------------------------------------
_capture = threading.local()


def install_dynamodb_metering(metering: Metering) -> None:
    """Compute request units for each DynamoDB request moto serves (see the module docstring)."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    from sfn_callback.localcloud.capacity import item_size, query_read_units, read_units, write_units

    def size_of(moto_item: Any) -> int:
        if moto_item is None:
            return 0
        return item_size(moto_item.to_json()["Attributes"])

    def current_size(handler: Any, table_name: str, key: dict[str, Any] | None) -> int:
        if not key:
            return 0
        try:
            return size_of(handler.dynamodb_backend.get_item(table_name, key))
        except Exception:  # unknown table or malformed key: the request itself will fail
            return 0

    def key_of(handler: Any, table_name: str, item: dict[str, Any]) -> dict[str, Any] | None:
        try:
            table = handler.dynamodb_backend.get_table(table_name)
        except Exception:
            return None
        names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
        return {n: item[n] for n in names if n in item} or None

    def single_item(op: str, original: Any) -> Any:
        def wrapper(self: Any) -> Any:
            body = self.body if isinstance(self.body, dict) else {}
            table = str(body.get("TableName", ""))
            key = body.get("Key") if op != "put_item" else key_of(self, table, body.get("Item") or {})
            caller = caller_from_user_agent(self.headers.get("User-Agent"))
            before = current_size(self, table, key)
            failed = True
            try:
                result = original(self)
                failed = False
                return result
            finally:
                if op == "get_item":
                    rcu, wcu = read_units(before, bool(body.get("ConsistentRead"))), 0.0
                elif op == "delete_item" or failed:
                    rcu, wcu = 0.0, write_units(before)
                else:
                    rcu, wcu = 0.0, write_units(max(before, current_size(self, table, key)))
                metering.dynamodb(caller, table, _dynamo_tag(key), rcu, wcu)

        return wrapper

    def multi_item(original: Any) -> Any:
        def wrapper(self: Any) -> Any:
            body = self.body if isinstance(self.body, dict) else {}
            _capture.sizes = []
            try:
                return original(self)
            finally:
                sizes, _capture.sizes = _capture.sizes, None
                consistent = bool(body.get("ConsistentRead")) and not body.get("IndexName")
                metering.dynamodb(caller_from_user_agent(self.headers.get("User-Agent")),
                                  str(body.get("TableName", "")), None, query_read_units(sizes, consistent), 0.0)

        return wrapper

    for op in ("get_item", "put_item", "update_item", "delete_item"):
        setattr(DynamoHandler, op, single_item(op, getattr(DynamoHandler, op)))
    for op in ("query", "scan"):
        setattr(DynamoHandler, op, multi_item(getattr(DynamoHandler, op)))

    # Query and Scan: capture the evaluated items (before the filter and the projection), then apply them.
    original_query, original_scan = Table.query, Table.scan

    def evaluated(results: list[Any], filter_expression: Any, projection: Any) -> list[Any]:
        sizes = getattr(_capture, "sizes", None)
        if sizes is not None:
            sizes.extend(size_of(r) for r in results)
        if filter_expression is not None:
            results = [r for r in results if filter_expression.expr(r)]
        if projection:
            results = [r.project(projection) for r in results]
        return results

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
              index_name: Any = None, consistent_read: bool = False, filter_expression: Any = None,
              **kwargs: Any) -> Any:
        results, scanned, last_key = original_query(
            self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward, None,
            index_name, consistent_read, None, **kwargs)
        return evaluated(results, filter_expression, projection_expressions), scanned, last_key

    def scan(self: Any, filters: Any, limit: Any, exclusive_start_key: Any, filter_expression: Any = None,
             index_name: Any = None, consistent_read: bool = False, projection_expression: Any = None,
             **kwargs: Any) -> Any:
        results, scanned, last_key = original_scan(
            self, filters, limit, exclusive_start_key, None, index_name, consistent_read, None, **kwargs)
        return evaluated(results, filter_expression, projection_expression), scanned, last_key

    replace(Table, "query", query)
    replace(Table, "scan", scan)


def count_request(metering: Metering, environ: dict[str, Any]) -> None:
    """Count one HTTP request by signing service and operation (``X-Amz-Target`` or ``Action``)."""
    service = service_from_authorization(environ.get("HTTP_AUTHORIZATION"))
    if service is None:
        return
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    operation = target.rsplit(".", 1)[-1] if target else ""
    if not operation:
        query = environ.get("QUERY_STRING") or ""
        match = re.search(r"(?:^|&)Action=([A-Za-z]+)", query)
        operation = match.group(1) if match else f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    metering.request(service, operation, caller_from_user_agent(environ.get("HTTP_USER_AGENT")))
