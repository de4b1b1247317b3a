"""The components' adapters with their metrics: drop-in subclasses that composition roots build instead of
the plain ones (same constructor plus the component's name, same behaviour, same results and errors)."""

from __future__ import annotations

from typing import Any

from sfn_callback.monitoring import components
from sfn_callback.monitoring import names as n
from sfn_callback.poc.adapters.stepfunctions import StepFunctionsCallbackSender
from sfn_callback.poc.lifecycle import SendResult


class MeteredCallbackSender(StepFunctionsCallbackSender):
    """The PoC's sender (per-job poller and sweep) with callback metrics."""

    def __init__(self, client: Any, component: str, **options: Any) -> None:
        super().__init__(client, **options)
        self.component = component

    def send(self, task_token: str, outcome: Any) -> SendResult:
        def classify(result: SendResult) -> str:
            ours = result.accepted or (result.maybe_ours and result.finished_reason != "TaskTimedOut")
            if not ours:
                return n.OUTCOME_FINISHED
            return n.OUTCOME_SUCCEEDED if outcome.is_success else n.OUTCOME_FAILED

        return components.metered_send(self.component, lambda: super(MeteredCallbackSender, self).send(
            task_token, outcome), classify)
