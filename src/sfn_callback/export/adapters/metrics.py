"""ExportMetrics on Powertools Metrics (CloudWatch Embedded Metric Format), namespace ``SfnCallback/Export``.

Metrics: ``JobsStarted``, ``JobsWithToken``, ``JobsWithoutToken``; per callback kind (``Callback`` for
success/failure callbacks, ``Heartbeat`` for heartbeats): ``<Kind>Success``, ``<Kind>Failure``,
``<Kind>LatencyMs``, ``<Kind>Retries``, and ``<Kind>Errors`` with an ``ErrorType`` dimension (errors by type).
Callback success rate = CallbackSuccess / (CallbackSuccess + CallbackFailure).
"""

from __future__ import annotations

import threading

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sfn_callback.export.application.ports import CallbackOutcome

NAMESPACE = "SfnCallback/Export"


class EmfExportMetrics:
    """Adds metrics to a Powertools ``Metrics`` object (flushed by ``@metrics.log_metrics`` in the handler)."""

    def __init__(self, metrics: Metrics | None = None, *, namespace: str = NAMESPACE) -> None:
        self.namespace = namespace
        self.metrics = metrics or Metrics(namespace=namespace)
        self._lock = threading.Lock()  # the heartbeat thread adds metrics too

    def job_started(self, *, has_token: bool) -> None:
        with self._lock:
            self.metrics.add_metric(name="JobsStarted", unit=MetricUnit.Count, value=1)
            name = "JobsWithToken" if has_token else "JobsWithoutToken"
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    def callback_result(self, outcome: CallbackOutcome) -> None:
        prefix = "Heartbeat" if outcome.kind == "heartbeat" else "Callback"
        with self._lock:
            self.metrics.add_metric(
                name=f"{prefix}{'Success' if outcome.ok else 'Failure'}", unit=MetricUnit.Count, value=1
            )
            self.metrics.add_metric(name=f"{prefix}LatencyMs", unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
            if outcome.attempts > 1:
                self.metrics.add_metric(name=f"{prefix}Retries", unit=MetricUnit.Count, value=outcome.attempts - 1)
        if not outcome.ok:
            with single_metric(
                name=f"{prefix}Errors", unit=MetricUnit.Count, value=1, namespace=self.namespace
            ) as metric:
                metric.add_dimension(name="ErrorType", value=outcome.error_code or "Unknown")
