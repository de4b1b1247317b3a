"""A pushed job end completes the token through the same claim as a poll: one callback whichever comes first,
with every interleaving of a push and a poll (the token lifecycle over the fakes)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from poc_fakes import Interleaver, World, all_interleavings, gate_checks

from sfn_callback.polling.domain.jobs import Completed, Failed, InProgress
from sfn_callback.polling.domain.lifecycle import ERROR_MAX_ATTEMPTS, TokenStatus, UnknownJob


def slot(w, n):
    return w.record.created_at + timedelta(seconds=n * w.record.interval_seconds)


def test_a_push_completes_the_token_once_and_a_second_push_or_a_poll_sends_nothing():
    w = World(max_attempts=5)
    w.jobs.script("job-1", "COMPLETED")
    p = w.poller()
    done = p.complete_from_push("job-1", Completed({"rows": 3}), holder="push-1")
    assert done.status == "COMPLETED" and done.reconnected and done.attempt == 0
    assert w.record.status is TokenStatus.COMPLETED and w.record.claim_holder == "push-1"
    assert w.sfn.accepted[0][1].output["result"] == {"rows": 3}
    again = p.complete_from_push("job-1", Completed({"rows": 4}), holder="push-2")
    assert again.status == "COMPLETED" and again.detail == "already finished" and not again.reconnected
    assert p.poll("job-1", slot=slot(w, 1)).detail == "already finished"
    assert len(w.sfn.accepted) == 1 and not w.sfn.rejected and w.sender.calls == 1
    assert "job-1" not in w.jobs.checks  # the push asked the API nothing
    assert w.schedules.existing == set()


def test_a_pushed_failure_fails_the_task_and_a_push_in_progress_or_for_an_unknown_job_changes_nothing():
    w = World()
    p = w.poller()
    still = p.complete_from_push("job-1", InProgress(), holder="push-1")
    assert still.status == "POLLING" and "in progress" in still.detail and w.sender.calls == 0
    with pytest.raises(UnknownJob):
        p.complete_from_push("job-404", Completed(), holder="push-2")
    failed = p.complete_from_push("job-1", Failed("RenderError", "frame 7"), holder="push-3")
    assert failed.status == "FAILED" and w.sfn.accepted[0][1].error == "RenderError"
    assert w.record.attempt_count == 0


@pytest.mark.parametrize(("answer", "max_attempts"), [("COMPLETED", 5), ("IN_PROGRESS", 5), ("IN_PROGRESS", 0)])
def test_a_push_racing_a_poll_interleaved_at_every_point_gives_one_callback(answer, max_attempts):
    """The poll finds the job completed too, still in progress, or is past its attempts (a verdict)."""

    def run_once(choices):
        il = Interleaver(choices)
        w = World(max_attempts=max_attempts, gate=il.gate)
        w.jobs.script("job-1", answer)
        gate_checks(w, il.gate)
        s1 = slot(w, 1)
        il.run([lambda: w.poller().poll("job-1", slot=s1, holder="poll-1"),
                lambda: w.poller().complete_from_push("job-1", Completed({"by": "push"}), holder="push-1")])
        il.world = w
        return il

    runs = 0
    winners = set()
    for il in all_interleavings(run_once):
        runs += 1
        w = il.world
        assert not il.errors, il.errors
        assert len(w.sfn.accepted) == 1 and not w.sfn.rejected and w.sender.calls == 1
        assert w.record.status.is_terminal and w.record.callback_result == "ACCEPTED"
        assert w.record.claim_count == 1
        winners.add(w.record.claim_holder)
        if w.record.claim_holder == "poll-1" and max_attempts == 0:
            assert w.sfn.accepted[0][1].error == ERROR_MAX_ATTEMPTS
        if answer == "IN_PROGRESS" and max_attempts:
            assert w.record.claim_holder == "push-1"
    expected = {"push-1"} if answer == "IN_PROGRESS" and max_attempts else {"push-1", "poll-1"}
    assert winners == expected and runs > 5


def test_a_push_resends_a_stale_claim_outcome_instead_of_its_own():
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    w.sender.crash_before_delivery = 1
    p = w.poller()
    with pytest.raises(BaseException, match="died"):
        p.poll("job-1", slot=slot(w, 1), holder="poll-1")
    assert w.record.status is TokenStatus.CALLBACK_PENDING
    busy = p.complete_from_push("job-1", Failed(), holder="push-1")
    assert busy.detail == "callback in progress elsewhere" and not w.sfn.accepted
    w.clock.advance(61)
    resent = p.complete_from_push("job-1", Failed(), holder="push-1")
    assert resent.recovered and resent.status == "COMPLETED"
    assert len(w.sfn.accepted) == 1 and w.sfn.accepted[0][1].error is None


# ------------------------------------------------------------------ the push endpoint's service (signature, refusals)
SECRET = "per-job-secret-0123456789"


def push_world():
    from sfn_callback.polling.application.push import PushReceiver

    w = World(max_attempts=5)
    w.repo.items["job-1"] = replace(w.record, job_api={"fields": {}, "push": {"secret": SECRET}})
    receiver = PushReceiver(w.repo, w.poller(), clock=w.clock)
    return w, receiver


def signed(doc, secret=SECRET, at=None, w=None, body=None):
    from sfn_callback.polling.application.push import sign_push

    body = body if body is not None else json.dumps(doc).encode()
    ts = str(int(at if at is not None else w.clock().timestamp()))
    return {"x-push-timestamp": ts, "x-push-signature": sign_push(secret, ts, body)}, body


def test_a_signed_push_completes_the_job_and_its_replay_is_refused():
    w, receiver = push_world()
    doc = {"pushId": "p-1", "jobId": "job-1", "status": "COMPLETED", "result": {"rows": 2}}
    headers, body = signed(doc, w=w)
    answer = receiver.receive(headers, body, holder="req-1")
    assert answer.status_code == 200 and answer.body["status"] == "COMPLETED" and answer.body["reconnected"]
    assert w.sfn.accepted[0][1].output["result"] == {"rows": 2}
    again = receiver.receive(headers, body, holder="req-2")
    assert (again.status_code, again.body["error"]) == (409, "Replay") and w.sender.calls == 1
    other = receiver.receive(*signed(dict(doc, pushId="p-2"), w=w), holder="req-3")
    assert other.status_code == 200 and other.body["detail"] == "already finished" and w.sender.calls == 1


@pytest.mark.parametrize(("case", "code", "error"), [
    ("too large", 413, "PayloadTooLarge"),
    ("not json", 400, "BadRequest"),
    ("no push id", 400, "BadRequest"),
    ("bad status", 400, "BadRequest"),
    ("no timestamp", 400, "BadRequest"),
    ("unknown job", 404, "UnknownJob"),
    ("job expects no push", 404, "UnknownJob"),
    ("wrong secret", 401, "BadSignature"),
    ("body changed", 401, "BadSignature"),
    ("stale", 401, "StaleTimestamp"),
    ("future", 401, "StaleTimestamp"),
])
def test_a_refused_push_answers_a_json_error_and_changes_nothing(case, code, error):
    w, receiver = push_world()
    doc = {"pushId": "p-1", "jobId": "job-1", "status": "COMPLETED"}
    headers, body = signed(doc, w=w)
    if case == "too large":
        headers, body = signed(dict(doc, result="x" * 70000), w=w)
    elif case == "not json":
        headers, body = signed(None, w=w, body=b"{nope")
    elif case == "no push id":
        headers, body = signed({"jobId": "job-1", "status": "COMPLETED"}, w=w)
    elif case == "bad status":
        headers, body = signed(dict(doc, status="RUNNING"), w=w)
    elif case == "no timestamp":
        del headers["x-push-timestamp"]
    elif case == "unknown job":
        headers, body = signed(dict(doc, jobId="job-404"), w=w)
    elif case == "job expects no push":
        w.repo.items["job-1"] = replace(w.record, job_api=None)
    elif case == "wrong secret":
        headers, body = signed(doc, secret="another-jobs-secret", w=w)
    elif case == "body changed":
        body = json.dumps(dict(doc, status="FAILED")).encode()
    elif case == "stale":
        headers, body = signed(doc, at=w.clock().timestamp() - 301)
    elif case == "future":
        headers, body = signed(doc, at=w.clock().timestamp() + 301)
    before = w.record
    answer = receiver.receive(headers, body, holder="req-1")
    assert (answer.status_code, answer.body["error"]) == (code, error) and answer.body["message"]
    assert w.record == before and w.sender.calls == 0 and not w.repo.pushes.get("job-1")


def test_a_function_url_event_is_answered_over_http_terms():
    w, receiver = push_world()
    headers, body = signed({"pushId": "p-1", "jobId": "job-1", "status": "FAILED", "error": "disk full"}, w=w)
    event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}},
             "headers": {k.title(): v for k, v in headers.items()},
             "body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    answer = receiver.handle_function_url(event, holder="req-1")
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["status"] == "FAILED"
    assert (w.sfn.accepted[0][1].error, w.sfn.accepted[0][1].cause) == ("JobFailed", "disk full")
    get = receiver.handle_function_url(dict(event, requestContext={"http": {"method": "GET"}}))
    assert get["statusCode"] == 405 and json.loads(get["body"])["error"] == "MethodNotAllowed"
