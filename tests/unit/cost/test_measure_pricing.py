"""Pricing a saved measurement, sharing sweep invocations, and the measurement's input checks."""

from __future__ import annotations

import json

import pytest

from sfn_callback.cost.measure import (
    MeasureConfig,
    comparisons,
    job_counts,
    job_input,
    parse_polls,
    share_sweep_invocations,
)
from sfn_callback.cost.pricing import load_price_table, parse_price_table


def _job(design, polls, transitions, fn, invocations, durations):
    return {"design": design, "polls": polls, "usage": {
        "state_transitions": transitions, "lambda": {fn: {"invocations": invocations,
                                                          "durations": [[d, 1.0] for d in durations]}},
        "scheduler_invocations": float(polls if design == "callback" else 0), "dynamodb_rcu": float(polls),
        "dynamodb_wcu": polls + 3.0, "sqs_requests": 0.0}}


MEASUREMENT = {
    "kind": "sfn-callback/cost-measurement", "designs": ["callback", "polling"], "polls": [1, 3],
    "lambda_memory_mb": {"poc-poller": 256.0, "poc-polling-job": 256.0},
    "jobs": [_job("callback", 1, 4, "poc-poller", 1, [40.2]), _job("callback", 3, 4, "poc-poller", 3, [40, 41, 42]),
             _job("polling", 1, 7, "poc-polling-job", 2, [10, 11]), _job("polling", 3, 13, "poc-polling-job", 4, [9] * 4)],
}


def test_job_counts_bill_durations_per_the_price_table():
    prices = load_price_table()
    counts = job_counts(MEASUREMENT["jobs"][0], MEASUREMENT["lambda_memory_mb"], prices)
    assert counts.lambda_gb_seconds == pytest.approx(0.041 * 0.25)  # 40.2 ms -> 41 ms at 1 ms granularity
    assert counts.state_transitions == 4 and counts.scheduler_invocations == 1 and counts.dynamodb_wcu == 4


def test_doubled_prices_double_every_cost():
    prices = load_price_table()
    doubled_doc = json.loads(prices.model_dump_json())
    for meter in doubled_doc["meters"].values():
        meter["price"] *= 2
    doubled = parse_price_table(doubled_doc)
    base = comparisons(MEASUREMENT, prices)["callback"]
    twice = comparisons(MEASUREMENT, doubled)["callback"]
    for a, b in zip(base.rows, twice.rows):
        assert b.design.cost_per_job.total == pytest.approx(2 * a.design.cost_per_job.total)
        assert b.reduction_percent == pytest.approx(a.reduction_percent)


def test_sweep_invocations_are_shared_among_the_jobs_waiting_then():
    jobs = [{"waiting_from": 0.0, "waiting_until": 10.0, "usage": _job("sweep", 1, 4, "poc-create-job", 1, [5])["usage"]},
            {"waiting_from": 5.0, "waiting_until": 20.0, "usage": _job("sweep", 1, 4, "poc-create-job", 1, [5])["usage"]}]
    events = [[2.0, "poc-sweep-poller", 100.0], [6.0, "poc-sweep-poller", 50.0], [30.0, "poc-sweep-poller", 9.0],
              [6.0, "other", 1.0]]
    shared = share_sweep_invocations(jobs, events, "poc-sweep-poller", 1.0, 0.0)
    assert shared == 2  # the one at t=30 had nobody waiting
    first = jobs[0]["usage"]["lambda"]["poc-sweep-poller"]
    assert first["invocations"] == pytest.approx(1.5) and first["durations"] == [[100.0, 1.0], [50.0, 0.5]]
    assert jobs[1]["usage"]["lambda"]["poc-sweep-poller"]["invocations"] == pytest.approx(0.5)
    assert jobs[0]["usage"]["dynamodb_rcu"] == pytest.approx(1 + 1.5)


def test_a_long_sweep_is_shared_by_how_long_each_job_waited_inside_it():
    jobs = [{"waiting_from": 0.0, "waiting_until": 10.0, "usage": _job("sweep", 1, 4, "poc-create-job", 1, [5])["usage"]},
            {"waiting_from": 5.0, "waiting_until": 20.0, "usage": _job("sweep", 1, 4, "poc-create-job", 1, [5])["usage"]}]
    # One sweep that ran from t=2 to t=12 (it ended at 12 after 10,000 ms): job 0 waited 8 s inside it, job 1 7 s.
    assert share_sweep_invocations(jobs, [[12.0, "poc-sweep-poller", 10_000.0]], "poc-sweep-poller", 3.0, 0.0) == 1
    assert jobs[0]["usage"]["lambda"]["poc-sweep-poller"]["invocations"] == pytest.approx(8 / 15)
    assert jobs[1]["usage"]["lambda"]["poc-sweep-poller"]["invocations"] == pytest.approx(7 / 15)
    assert jobs[1]["usage"]["dynamodb_rcu"] == pytest.approx(1 + 3.0 * 7 / 15)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="whole numbers"):
        parse_polls("1,x")
    with pytest.raises(ValueError, match="at least one"):
        parse_polls(" , ")
    with pytest.raises(ValueError, match=">= 1"):
        MeasureConfig(polls=(0,))
    with pytest.raises(ValueError, match="polling"):
        MeasureConfig(designs=("callback", "sweep"))
    with pytest.raises(ValueError, match="interval"):
        MeasureConfig(interval_seconds=0)


def test_job_input_asks_for_exactly_the_polls_and_the_mode():
    doc = job_input("sweep", 5, 2, "n")
    assert doc["pollingConfig"]["jobOptions"] == {"completeAfterChecks": 5}
    assert doc["pollingConfig"]["mode"] == "sweep" and doc["pollingConfig"]["maxAttempts"] > 5
    assert "mode" not in job_input("callback", 5, 2, "n")["pollingConfig"]
    assert "taskTimeoutSeconds" not in job_input("polling", 5, 2, "n")


def test_a_push_job_lasts_as_long_as_its_polls_and_each_push_goes_to_the_job_it_completed():
    from sfn_callback.cost.measure import attribute_push_invocations

    doc = job_input("push", 5, 2, "n", job_api_url="http://127.0.0.1:9")
    assert doc["record"]["data"]["job"] == {"completeAfterSeconds": 10}
    assert doc["pollingConfig"]["jobApi"]["push"] == {} and "jobOptions" not in doc["pollingConfig"]
    assert doc["pollingConfig"]["jobApi"]["status"]["url"] == "http://127.0.0.1:9/jobs/{jobId}"
    with pytest.raises(ValueError, match="job service"):
        job_input("push", 5, 2, "n")
    jobs = [{"waiting_until": 100.0, "usage": {"lambda": {}}}, {"waiting_until": 103.0, "usage": {"lambda": {}}}]
    events = [[100.05, "poc-job-push", 40.0], [102.9, "poc-job-push", 35.0], [101.0, "poc-poller", 9.0]]
    assert attribute_push_invocations(jobs, events, "poc-job-push") == 2
    assert [j["usage"]["lambda"]["poc-job-push"]["durations"] for j in jobs] == [[[40.0, 1.0]], [[35.0, 1.0]]]
