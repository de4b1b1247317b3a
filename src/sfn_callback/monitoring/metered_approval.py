"""The components' adapters with their metrics: drop-in subclasses that composition roots build instead of
the plain ones (same constructor plus the component's name, same behaviour, same results and errors)."""

from __future__ import annotations

from typing import Any

from sfn_callback.approval.adapters.stepfunctions import CallbackUnavailable, Delivered, StepFunctionsCallbacks
from sfn_callback.approval.domain import Action
from sfn_callback.approval.service import ApprovalService, DecisionResult, RecordOutcome
from sfn_callback.monitoring import components
from sfn_callback.monitoring import names as n


def _unavailable_type(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, CallbackUnavailable) and exc.__cause__ is not None else exc
    return components.error_type(cause)


class MeteredApprovalCallbacks(StepFunctionsCallbacks):
    """The approval service's sender with callback metrics."""

    def __init__(self, client: Any, component: str = n.APPROVAL_SERVICE, publisher: Any = None,
                 **options: Any) -> None:
        super().__init__(client, **options)
        self.component = component
        self.publisher = publisher  # None: the process's (stdout in Lambda)

    def send(self, task_token: str, decision: Any) -> Any:
        def classify(result: Any) -> str:
            if not isinstance(result, Delivered):
                return n.OUTCOME_FINISHED
            return n.OUTCOME_SUCCEEDED if decision.action is Action.APPROVE else n.OUTCOME_FAILED

        return components.metered_send(self.component, lambda: super(MeteredApprovalCallbacks, self).send(
            task_token, decision), classify, _unavailable_type, self.publisher)


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
