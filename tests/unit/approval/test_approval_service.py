"""The decision rules with in-memory fakes: one decision per task, claim → send → finalize, redelivery."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from approval_fakes import FakeCallbacks, FakeRepository

from sfn_callback.approval.adapters.stepfunctions import Finished
from sfn_callback.approval.application.service import ApprovalService, ConflictingRequest, Outcome, RecordOutcome
from sfn_callback.approval.domain.model import Action, CallbackState, Decision, ExecutionEnd, Status
from sfn_callback.approval.entrypoints.messages import ApprovalRequest

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def request(order="o-1", execution="e-1", token="token-" + "x" * 40, timeout=120):
    return ApprovalRequest.model_validate({
        "orderId": order, "transactionId": f"arn:aws:states:us-east-1:000000000000:execution:wf:{execution}",
        "taskToken": token, "startTime": T0.isoformat(), "timeoutSeconds": timeout})


@pytest.fixture
def world():
    repo, callbacks, clock = FakeRepository(), FakeCallbacks(), Clock()
    service = ApprovalService(repo, callbacks, clock=clock, lease_seconds=30, retry_seconds=5)
    return service, repo, callbacks, clock


def test_request_is_stored_pending_and_a_duplicate_changes_nothing(world):
    service, repo, _, _ = world
    assert service.record_request(request(), "m-1") is RecordOutcome.CREATED
    before = repo.items["o-1"]
    assert before.status is Status.PENDING and before.ttl > int(T0.timestamp())
    assert service.record_request(request(), "m-1") is RecordOutcome.DUPLICATE
    assert repo.items["o-1"] == before


def test_another_execution_for_the_same_order_is_refused(world):
    service, repo, _, _ = world
    service.record_request(request())
    with pytest.raises(ConflictingRequest, match="already has an approval task"):
        service.record_request(request(execution="e-2", token="other-" + "y" * 40))
    assert repo.items["o-1"].transaction_id.endswith(":e-1")


def test_approve_claims_sends_and_finalizes(world):
    service, repo, callbacks, _ = world
    service.record_request(request())
    result = service.decide("o-1", Action.APPROVE, "alice", reason="fine", output={"ok": 1})
    assert result.outcome is Outcome.DECIDED
    task = repo.items["o-1"]
    assert (task.status, task.callback_state, task.decision.actor, task.decision.output) == \
           (Status.APPROVED, CallbackState.SENT, "alice", {"ok": 1})
    assert [e.event for e in task.audit] == ["RECEIVED", "APPROVED", "CALLBACK_SENT"]
    assert len(callbacks.sent) == 1


def test_second_decision_is_refused_with_the_first(world):
    service, repo, callbacks, _ = world
    service.record_request(request())
    service.decide("o-1", Action.REJECT, "bob", reason="no budget")
    second = service.decide("o-1", Action.APPROVE, "alice")
    assert second.outcome is Outcome.ALREADY_DECIDED
    assert second.task.decision.actor == "bob" and second.task.status is Status.REJECTED
    assert len(callbacks.sent) == 1


def test_unknown_order(world):
    service, *_ = world
    assert service.decide("nope", Action.APPROVE, "alice").outcome is Outcome.NOT_FOUND


def test_closed_token_is_recorded_timed_out_and_answers_closed_again(world):
    service, repo, callbacks, _ = world
    service.record_request(request())
    callbacks.script = ["finished"]
    result = service.decide("o-1", Action.APPROVE, "alice")
    assert result.outcome is Outcome.CLOSED
    task = repo.items["o-1"]
    assert task.status is Status.TIMED_OUT and task.decision is None and task.closed_reason == "TaskTimedOut"
    assert service.decide("o-1", Action.REJECT, "bob", reason="late").outcome is Outcome.CLOSED
    assert len(callbacks.sent) == 1


def test_failed_callback_keeps_the_claim_and_redelivery_sends_the_same_decision(world):
    service, repo, callbacks, clock = world
    service.record_request(request())
    callbacks.script = ["down"]
    result = service.decide("o-1", Action.REJECT, "bob", reason="risky")
    assert result.outcome is Outcome.DELIVERY_PENDING
    task = repo.items["o-1"]
    assert task.status is Status.REJECTED and task.callback_state is CallbackState.SENDING
    assert task.callback_attempts == 1 and "Throttling" in task.callback_error
    # Another approver cannot change it meanwhile.
    assert service.decide("o-1", Action.APPROVE, "alice").outcome is Outcome.ALREADY_DECIDED
    # Not before the retry time...
    assert service.redeliver_pending() == []
    clock.now += timedelta(seconds=6)
    [redelivered] = service.redeliver_pending()
    assert redelivered.outcome is Outcome.DECIDED
    assert repo.items["o-1"].callback_state is CallbackState.SENT
    assert [d.action for _, d in callbacks.sent] == [Action.REJECT, Action.REJECT]
    assert callbacks.accepted[request().task_token].actor == "bob"


def test_lost_answer_then_finished_is_confirmed_from_history_not_timed_out(world):
    service, repo, callbacks, clock = world
    service.record_request(request())
    callbacks.script = ["lost"]
    callbacks.timed_out = False
    assert service.decide("o-1", Action.APPROVE, "alice").outcome is Outcome.DELIVERY_PENDING
    clock.now += timedelta(seconds=6)
    [result] = service.redeliver_pending()  # the resend answers "finished": it was our first attempt
    assert result.outcome is Outcome.DECIDED
    task = repo.items["o-1"]
    assert task.status is Status.APPROVED and task.callback_state is CallbackState.SENT
    assert len(callbacks.accepted) == 1


def test_lost_answer_then_timeout_is_timed_out(world):
    service, repo, callbacks, clock = world
    service.record_request(request())
    callbacks.script = ["down", "finished"]
    callbacks.timed_out = True
    service.decide("o-1", Action.APPROVE, "alice")
    repo.items["o-1"] = replace(repo.items["o-1"], callback_maybe_delivered=True)  # as after a read timeout
    clock.now += timedelta(seconds=6)
    [result] = service.redeliver_pending()
    assert result.outcome is Outcome.CLOSED and repo.items["o-1"].status is Status.TIMED_OUT


def test_crash_after_claim_is_redelivered_after_the_lease(world):
    service, repo, callbacks, clock = world
    service.record_request(request())
    # The process dies between the claim and the send: only the claim exists.
    repo.claim("o-1", Decision(Action.APPROVE, "alice", clock.now, "claim-1", None, {"k": 1}),
               lease_until=clock.now + timedelta(seconds=30))
    assert service.redeliver_pending() == []  # the lease is still held
    clock.now += timedelta(seconds=31)
    [result] = service.redeliver_pending()
    assert result.outcome is Outcome.DECIDED and callbacks.accepted[request().task_token].output == {"k": 1}


def test_concurrent_decisions_one_winner(world):
    service, repo, callbacks, _ = world
    for i in range(20):
        service.record_request(request(order=f"o-{i}", execution=f"e-{i}", token=f"token-{i}-" + "z" * 30))
    outcomes: list = []
    barrier = threading.Barrier(2)

    def go(order, action):
        barrier.wait()
        outcomes.append((order, service.decide(order, action, action.value.lower(), reason="r").outcome))

    for i in range(20):
        threads = [threading.Thread(target=go, args=(f"o-{i}", a)) for a in (Action.APPROVE, Action.REJECT)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    for i in range(20):
        mine = sorted(o.value for order, o in outcomes if order == f"o-{i}")
        assert mine == ["ALREADY_DECIDED", "DECIDED"]
    assert len(callbacks.sent) == 20


def test_view_never_contains_the_token(world):
    service, repo, _, clock = world
    service.record_request(request())
    service.decide("o-1", Action.APPROVE, "alice")
    view = repo.items["o-1"].view(clock.now)
    assert request().task_token not in repr(view)
    assert view["timeLeftSeconds"] == 0.0 and view["decision"]["decidedBy"] == "alice"


# -- reconciliation: undecided tasks whose execution ended -------------------------------------------------
def test_execution_end_rules():
    assert ExecutionEnd("RUNNING").closes() is None
    assert ExecutionEnd("RUNNING", task_outcome="TaskTimedOut").closes()[0] is Status.TIMED_OUT
    assert ExecutionEnd("SUCCEEDED", T0, "TaskTimedOut").closes()[0] is Status.TIMED_OUT
    assert ExecutionEnd("TIMED_OUT", T0).closes() == (Status.TIMED_OUT, "execution TIMED_OUT at 2025-01-01T00:00:00.000000Z")
    assert ExecutionEnd("ABORTED", T0).closes() == (Status.CLOSED, "execution ABORTED at 2025-01-01T00:00:00.000000Z")
    assert ExecutionEnd("FAILED", T0).closes()[0] is Status.CLOSED
    assert ExecutionEnd("RUNNING", task_outcome="TaskSucceeded").closes()[0] is Status.CLOSED
    assert ExecutionEnd("NOT_FOUND").closes()[0] is Status.CLOSED


def test_the_loop_closes_an_aborted_task_and_times_out_a_lapsed_one(world):
    service, repo, callbacks, clock = world
    service = ApprovalService(repo, callbacks, clock=clock, check_every_seconds=10)
    service.record_request(request("o-1", "e-1", timeout=120))
    service.record_request(request("o-2", "e-2", token="t2-" + "y" * 40, timeout=5))
    service.record_request(request("o-3", "e-3", token="t3-" + "z" * 40, timeout=120))
    arn = "arn:aws:states:us-east-1:000000000000:execution:wf:"
    callbacks.ends = {arn + "e-1": ExecutionEnd("ABORTED", T0 + timedelta(seconds=3)),
                      arn + "e-2": ExecutionEnd("SUCCEEDED", T0 + timedelta(seconds=6), "TaskTimedOut")}
    clock.now = T0 + timedelta(seconds=2)
    assert service.reconcile_pending() == [] and callbacks.described == []  # nothing due yet
    clock.now = T0 + timedelta(seconds=6)  # o-2 is past its deadline: asked with its history
    assert [t.order_id for t in service.reconcile_pending()] == ["o-2"]
    assert callbacks.described == [(arn + "e-2", True)]
    clock.now = T0 + timedelta(seconds=11)  # o-1 and o-3 have not been checked for 10 s
    assert [t.order_id for t in service.reconcile_pending()] == ["o-1"]
    assert sorted(callbacks.described[1:]) == [(arn + "e-1", False), (arn + "e-3", False)]
    assert (repo.items["o-1"].status, repo.items["o-1"].closed_reason) == \
           (Status.CLOSED, "execution ABORTED at 2025-01-01T00:00:03.000000Z")
    assert repo.items["o-2"].status is Status.TIMED_OUT and repo.items["o-3"].status is Status.PENDING
    assert repo.items["o-1"].audit[-1].event == "EXECUTION_ENDED"
    # A decision on a reconciled task is refused as closed (410); nothing is sent.
    assert service.decide("o-1", Action.APPROVE, "alice").outcome is Outcome.CLOSED and callbacks.sent == []


def test_listing_pending_reconciles_tasks_past_their_deadline(world):
    service, repo, callbacks, clock = world
    service.record_request(request("o-1", "e-1", timeout=5))
    service.record_request(request("o-2", "e-2", token="t2-" + "y" * 40, timeout=120))
    arn = "arn:aws:states:us-east-1:000000000000:execution:wf:"
    clock.now = T0 + timedelta(seconds=6)
    # Step Functions still holds o-1 (our clock is ahead): it stays PENDING until Step Functions says otherwise.
    assert [t.order_id for t in service.list(Status.PENDING, 50)[0]] == ["o-1", "o-2"]
    callbacks.ends[arn + "e-1"] = ExecutionEnd("RUNNING", None, "TaskTimedOut")
    assert [t.order_id for t in service.list(Status.PENDING, 50)[0]] == ["o-2"]
    assert service.get("o-1").status is Status.TIMED_OUT
    assert [t.order_id for t in service.list(Status.TIMED_OUT, 50)[0]] == ["o-1"]


def test_a_decision_racing_the_reconciliation_wins_or_loses_whole(world):
    service, repo, callbacks, clock = world
    service.record_request(request(timeout=5))
    clock.now = T0 + timedelta(seconds=6)
    task = repo.items["o-1"]
    assert service.decide("o-1", Action.APPROVE, "alice").outcome is Outcome.DECIDED  # the decision came first
    callbacks.ends["arn:aws:states:us-east-1:000000000000:execution:wf:e-1"] = ExecutionEnd("ABORTED", T0)
    assert service.reconcile(task).status is Status.APPROVED  # the stale PENDING copy changes nothing
    assert repo.items["o-1"].status is Status.APPROVED


def test_a_decision_on_an_aborted_execution_is_recorded_closed(world):
    service, repo, _, _ = world
    callbacks = FakeCallbacks()
    callbacks.send = lambda token, decision: Finished("TaskDoesNotExist")
    callbacks.ends["arn:aws:states:us-east-1:000000000000:execution:wf:e-1"] = ExecutionEnd("ABORTED", T0)
    service = ApprovalService(repo, callbacks)
    service.record_request(request())
    result = service.decide("o-1", Action.APPROVE, "alice")
    assert result.outcome is Outcome.CLOSED and result.task.status is Status.CLOSED
    assert result.task.closed_reason.startswith("TaskDoesNotExist; execution ABORTED")
