"""The metrics AWS services publish about themselves, for the local cloud's Step Functions and SQS.

``AWS/States``, dimension ``StateMachineArn``, published as executions change (hooked in moto's Step Functions
interpreter, where an execution starts and where it ends):

* ``ExecutionsStarted`` when an execution starts (``Count``, value 1);
* ``ExecutionsSucceeded``, ``ExecutionsFailed``, ``ExecutionsTimedOut``, ``ExecutionsAborted`` when it ends
  (``Count``, value 1) and ``ExecutionTime`` (``Milliseconds``, start to end).

``AWS/SQS``, dimension ``QueueName``, sampled for every active queue (one with any API activity in the last
6 hours, or messages in it, as SQS counts activity), every minute on AWS and every
``SFN_CALLBACK_SQS_METRICS_PERIOD`` seconds locally (10 by default) so a short scenario sees it:

* ``ApproximateNumberOfMessagesVisible``, ``ApproximateNumberOfMessagesNotVisible``,
  ``ApproximateNumberOfMessagesDelayed`` (``Count``), ``ApproximateAgeOfOldestMessage`` (``Seconds``, 0 for
  an empty queue);
* ``NumberOfMessagesSent``, ``NumberOfMessagesReceived``, ``NumberOfMessagesDeleted``,
  ``NumberOfEmptyReceives`` (``Count``, since the previous sample). As on AWS, messages moved to a dead-letter
  queue by a redrive policy are not counted as sent to it; messages SNS delivers are.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sfn_callback.localcloud.patching import mark, replace

log = logging.getLogger("sfn_callback.localcloud.metrics")

Record = Callable[[str, str, str, str, tuple[tuple[str, str], ...], float, str, float], None]
# (account, region, namespace, metric name, dimensions, value, unit, timestamp)

ACTIVE_SECONDS = 6 * 3600
_ENDINGS = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed", "TIMED_OUT": "ExecutionsTimedOut",
            "ABORTED": "ExecutionsAborted"}


def install_states_metrics(record: Record) -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    if getattr(Execution.start, "_sfn_callback_metrics", False):
        return
    original_start = Execution.start
    original_terminated = BaseExecutionWorkerCommunication.terminated

    def start(self: Any) -> None:
        original_start(self)
        try:
            record(self.account_id, self.region_name, "AWS/States", "ExecutionsStarted",
                   (("StateMachineArn", self.state_machine_arn),), 1.0, "Count", time.time())
        except Exception:
            log.exception("recording ExecutionsStarted failed")

    def terminated(self: Any) -> None:
        original_terminated(self)
        try:
            execution = self.execution
            status = getattr(execution.exec_status, "value", str(execution.exec_status))
            name = _ENDINGS.get(status)
            if name is None:
                return
            ended = execution.stop_date.timestamp() if execution.stop_date else time.time()
            dims = (("StateMachineArn", execution.state_machine_arn),)
            record(execution.account_id, execution.region_name, "AWS/States", name, dims, 1.0, "Count", ended)
            took = (ended - execution.start_date.timestamp()) * 1000.0
            record(execution.account_id, execution.region_name, "AWS/States", "ExecutionTime", dims,
                   max(took, 0.0), "Milliseconds", ended)
        except Exception:
            log.exception("recording the end of an execution failed")

    mark(start, "_sfn_callback_metrics")
    replace(Execution, "start", start)
    replace(BaseExecutionWorkerCommunication, "terminated", terminated)


class SqsMetrics:
    """Counts SQS traffic per queue (hooked in moto's backend) and samples queue depths on a period."""

    COUNTERS = ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted",
                "NumberOfEmptyReceives")

    def __init__(self, record: Record, period: float = 10.0) -> None:
        self._record = record
        self.period = period
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(self.COUNTERS, 0))
        self._active: dict[tuple[str, str, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqs-metrics", daemon=True)
        self.samples = 0

    # -- counting --------------------------------------------------------------------------------
    def count(self, account: str, region: str, queue: str, metric: str | None, amount: int = 1) -> None:
        key = (account, region, queue)
        with self._lock:
            self._active[key] = time.time()
            if metric is not None and amount:
                self._counts[key][metric] += amount

    def install(self) -> None:
        from moto.sqs.models import SQSBackend

        if getattr(SQSBackend.send_message, "_sfn_callback_metrics", False):
            return
        original_send = SQSBackend.send_message
        original_receive = SQSBackend.receive_message
        original_delete = SQSBackend.delete_message
        original_create = SQSBackend.create_queue
        metrics = self

        def send_message(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            message = original_send(backend, queue_name, *args, **kwargs)
            metrics.count(backend.account_id, backend.region_name, queue_name, "NumberOfMessagesSent")
            return message

        def receive_message(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            messages = original_receive(backend, queue_name, *args, **kwargs)
            if messages:
                metrics.count(backend.account_id, backend.region_name, queue_name, "NumberOfMessagesReceived",
                              len(messages))
            else:
                metrics.count(backend.account_id, backend.region_name, queue_name, "NumberOfEmptyReceives")
            return messages

        def delete_message(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            result = original_delete(backend, queue_name, *args, **kwargs)
            metrics.count(backend.account_id, backend.region_name, queue_name, "NumberOfMessagesDeleted")
            return result

        def create_queue(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            queue = original_create(backend, name, *args, **kwargs)
            metrics.count(backend.account_id, backend.region_name, name, None)
            return queue

        mark(send_message, "_sfn_callback_metrics")
        replace(SQSBackend, "send_message", send_message)
        replace(SQSBackend, "receive_message", receive_message)
        replace(SQSBackend, "delete_message", delete_message)
        replace(SQSBackend, "create_queue", create_queue)

    # -- sampling --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            now = time.time()
            next_sample = (math.floor(now / self.period) + 1) * self.period  # on period boundaries
            if self._stop.wait(max(0.0, next_sample - now)):
                return
            try:
                self.sample(next_sample)
            except Exception:
                log.exception("SQS metrics sample failed")

    def sample(self, at: float) -> int:
        """Publish one sample of every active queue at time ``at``; returns how many queues."""
        from moto.sqs.models import sqs_backends

        sampled = 0
        for account, regions in list(sqs_backends.items()):
            for region, backend in list(regions.items()):
                for name, queue in list(backend.queues.items()):
                    key = (account, region, name)
                    # moto declares Message.sent_timestamp None; once sent it is the time in ms
                    messages: list[Any] = list(queue._messages)
                    with self._lock:
                        last_active = self._active.get(key)
                        counts = self._counts.pop(key, None) or dict.fromkeys(self.COUNTERS, 0)
                    if not messages and (last_active is None or at - last_active > ACTIVE_SECONDS):
                        continue
                    dims = (("QueueName", name),)
                    visible = sum(1 for m in messages if m.visible and not m.delayed)
                    delayed = sum(1 for m in messages if m.delayed)
                    in_flight = sum(1 for m in messages if not m.visible)
                    sent = [m.sent_timestamp for m in messages if m.sent_timestamp]
                    oldest = max(0.0, at - min(sent) / 1000.0) if sent else 0.0
                    for metric, value, unit in (
                            ("ApproximateNumberOfMessagesVisible", visible, "Count"),
                            ("ApproximateNumberOfMessagesNotVisible", in_flight, "Count"),
                            ("ApproximateNumberOfMessagesDelayed", delayed, "Count"),
                            ("ApproximateAgeOfOldestMessage", round(oldest), "Seconds"),
                            *((counter, counts[counter], "Count") for counter in self.COUNTERS)):
                        self._record(account, region, "AWS/SQS", metric, dims, float(value), unit, at)
                    sampled += 1
        self.samples += 1
        return sampled
