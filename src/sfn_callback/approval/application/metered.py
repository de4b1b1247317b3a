"""The approval service with its metrics: a drop-in subclass that the composition root builds instead of the
plain one (same constructor, same behaviour, same results and errors). Its callbacks are measured by the
callback core's metered port (:class:`sfn_callback.metrics.callbacks.MeteredTaskCallbacks`)."""

from __future__ import annotations

from typing import Any

from sfn_callback.approval.application.service import ApprovalService, DecisionResult, RecordOutcome
from sfn_callback.approval.domain.model import Action
from sfn_callback.metrics import components
from sfn_callback.metrics import names as n


class MeteredApprovalService(ApprovalService):
    """The approval service with decision metrics (and stored requests, for the consumer)."""

    component = n.APPROVAL_SERVICE
    consumer_component = n.APPROVAL_CONSUMER
    publisher: Any = None  # set by the composition root; None: the process's (stdout in Lambda)

    def record_request(self, request: Any, message_id: str | None = None) -> RecordOutcome:
        outcome = super().record_request(request, message_id)
        if outcome is RecordOutcome.CREATED:
            components.approval_requests(self.consumer_component, 1, self.publisher)
        return outcome

    def decide(self, order_id: str, action: Action, actor: str, reason: str | None = None,
               output: Any = None) -> DecisionResult:
        result = super().decide(order_id, action, actor, reason, output)
        task = result.task
        decided = task.decision if task is not None else None
        components.decision(self.component, result.outcome.value, action.value,
                            task.received_at if task is not None else None,
                            decided.at if decided is not None else None, self.publisher)
        return result
