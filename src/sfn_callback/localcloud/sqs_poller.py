"""SQS -> Lambda event source mappings that behave like Lambda's pollers.

moto delivers to a mapped function synchronously inside SendMessage, one batch, without
``batchItemFailures`` or redrive. Here a poller thread per enabled mapping receives batches, invokes the
function with the Lambda SQS event, deletes what succeeded (all of the batch, or all but the reported
``batchItemFailures`` when the mapping has ``ReportBatchItemFailures``), and leaves failures to become
visible again after the queue's visibility timeout, until the queue's redrive policy moves them to the DLQ.
Like Lambda, a mapping processes several batches at once (``ScalingConfig.MaximumConcurrency``, else 5).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sfn_callback.localcloud.sqs")


class EventSourceMappingPoller:
    """Keeps one polling thread per enabled SQS mapping, following creates, updates and deletes."""

    def __init__(self, sqs_client_for: Callable[[str], Any], invoke: Callable[[str, str, str, bytes], Any],
                 refresh: float = 0.2, wait_seconds: int = 1) -> None:
        self._sqs_client_for = sqs_client_for  # region -> boto3 SQS client of the local cloud
        self._invoke = invoke  # (account, region, function_arn, payload) -> InvokeResult
        self._refresh = refresh
        self._wait_seconds = wait_seconds
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="esm-supervisor", daemon=True)
        self.stats = {"batches": 0, "deleted": 0, "failed_items": 0, "errors": 0}
        self._stats_lock = threading.Lock()

    def start(self) -> None:
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        self._supervisor.join(timeout=5)
        for thread in list(self._threads.values()):
            thread.join(timeout=self._wait_seconds + 5)

    @staticmethod
    def _mappings() -> list[tuple[str, str, Any]]:
        from moto.awslambda.utils import get_backend
        from moto.awslambda_simple.models import lambda_simple_backends

        found = []
        for account_id, regions in list(lambda_simple_backends.items()):
            for region in list(regions.keys()):
                backend = get_backend(account_id, region)
                for esm in list(backend._event_source_mappings.values()):
                    if ":sqs:" in esm.event_source_arn:
                        found.append((account_id, region, esm))
        return found

    def _supervise(self) -> None:
        while not self._stop.wait(self._refresh):
            try:
                for account_id, region, esm in self._mappings():
                    if not _enabled(esm):
                        continue
                    for slot in range(_concurrency(esm)):
                        key = f"{esm.uuid}/{slot}"
                        thread = self._threads.get(key)
                        if thread is None or not thread.is_alive():
                            thread = threading.Thread(target=self._poll, args=(account_id, region, esm.uuid),
                                                      name=f"esm-{esm.uuid[:8]}-{slot}", daemon=True)
                            self._threads[key] = thread
                            thread.start()
            except Exception:
                log.exception("event source mapping supervisor failed")

    def _current(self, uuid: str) -> tuple[str, str, Any] | None:
        for account_id, region, esm in self._mappings():
            if esm.uuid == uuid:
                return account_id, region, esm
        return None

    def _poll(self, account_id: str, region: str, uuid: str) -> None:
        sqs = self._sqs_client_for(region)
        while not self._stop.is_set():
            current = self._current(uuid)
            if current is None or not _enabled(current[2]):
                return  # deleted or disabled: the supervisor starts a new poller if it comes back
            esm = current[2]
            try:
                self._poll_once(sqs, account_id, region, esm)
            except Exception as exc:
                with self._stats_lock:
                    self.stats["errors"] += 1
                log.error("event source mapping %s (%s): %s", uuid, esm.event_source_arn, exc)
                time.sleep(1)

    def _poll_once(self, sqs: Any, account_id: str, region: str, esm: Any) -> None:
        queue_name = esm.event_source_arn.rsplit(":", 1)[-1]
        queue_owner = esm.event_source_arn.split(":")[4]
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=queue_owner)["QueueUrl"]
        batch_size = max(1, min(int(esm.batch_size or 10), 10))
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=batch_size, WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return
        event = {"Records": [_record(m, esm.event_source_arn, region) for m in messages]}
        result = self._invoke(account_id, region, esm.function_arn, json.dumps(event).encode("utf-8"))
        with self._stats_lock:
            self.stats["batches"] += 1
        if result.function_error:
            # The whole batch failed: messages come back after the visibility timeout.
            log.warning("batch of %d from %s failed in %s: %s", len(messages), queue_name, esm.function_arn,
                        result.payload[:300].decode("utf-8", "replace"))
            with self._stats_lock:
                self.stats["failed_items"] += len(messages)
            return
        failed = _batch_item_failures(result.payload, esm, {m["MessageId"] for m in messages})
        if failed is None:  # an invalid failure report fails the whole batch, as Lambda does
            with self._stats_lock:
                self.stats["failed_items"] += len(messages)
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start:start + 10]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
        with self._stats_lock:
            self.stats["deleted"] += len(done)
            self.stats["failed_items"] += len(failed)


DEFAULT_CONCURRENCY = 5  # Lambda starts with five concurrent batches per SQS mapping


def _concurrency(esm: Any) -> int:
    """Concurrent batches per mapping: ``ScalingConfig.MaximumConcurrency`` when set, else Lambda's start of 5."""
    scaling = getattr(esm, "scaling_config", None) or {}
    try:
        return max(1, int(scaling.get("MaximumConcurrency") or DEFAULT_CONCURRENCY))
    except (TypeError, ValueError):
        return DEFAULT_CONCURRENCY


def _enabled(esm: Any) -> bool:
    return bool(getattr(esm, "enabled", True)) and getattr(esm, "state", "Enabled") in ("Enabled", "Enabling",
                                                                                          "Updating", "Creating")


def _function_response_types(esm: Any) -> list[str]:
    return list(getattr(esm, "function_response_types", None) or
                getattr(esm, "_spec", {}).get("FunctionResponseTypes", []) or [])


def _batch_item_failures(payload: bytes, esm: Any, ids: set[str]) -> set[str] | None:
    """Message ids the function reported as failed; ``None`` when the report itself is invalid."""
    if "ReportBatchItemFailures" not in _function_response_types(esm):
        return set()
    try:
        body = json.loads(payload or b"null")
    except json.JSONDecodeError:
        return set()
    if not isinstance(body, dict) or not body.get("batchItemFailures"):
        return set()
    failed: set[str] = set()
    for item in body["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return None
        failed.add(identifier)
    return failed


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = dict(message.get("Attributes", {}))
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    return record
