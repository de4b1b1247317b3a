"""``sfn-callback bench faults`` end to end: a small fault run on a fresh local cloud of its own (as users run it;
the session's shared cloud keeps its own stack settings), checked from the JSON document it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sfn_callback.bench.faults import CONTROL, FAULTS

pytestmark = pytest.mark.cloud


@pytest.mark.timeout(660)
def test_a_small_fault_run_injects_every_fault_and_loses_duplicates_and_gets_wrong_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}  # its own fresh local cloud
    env |= {"SFN_CALLBACK_STATE_DIR": str(tmp_path), "COLUMNS": "160"}
    done = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "bench", "faults", "--jobs", "10", "--json"],
                          capture_output=True, text=True, timeout=600, env=env)
    doc = json.loads(done.stdout)  # exactly one JSON document on stdout, progress on stderr
    rows = {row["fault"]: row for row in doc["faults"]}
    summary = {name: (r["injected"], r["lost"], r["duplicate"], r["wrong"], r["problems"][:2])
               for name, r in rows.items()}
    assert done.returncode == 0 and doc["passed"], f"{summary}\n{done.stderr[-3000:]}"
    assert doc["fresh_cloud"] is True and doc["settled_in_time"] is True
    assert list(rows) == list(FAULTS)
    for name, row in rows.items():
        assert row["injected"] >= 1 and 1 <= row["affected"] <= row["jobs"], (name, row)
        assert (row["lost"], row["duplicate"], row["wrong"]) == (0, 0, 0), (name, row)
    control = doc["control"]
    assert control["fault"] == CONTROL and control["jobs"] >= 1 and control["injected"] == 0
    assert (control["lost"], control["duplicate"], control["wrong"]) == (0, 0, 0)
    assert control["recovery"]["samples"] == control["jobs"]  # every control job resumed, measured from its data
    assert doc["totals"] == {"lost": 0, "duplicate": 0, "wrong": 0} and doc["not_injected"] == []
    # Faults the endpoint fired are counted from its fired list: the kills and errors exactly as armed.
    assert rows["poller-killed"]["injected"] == rows["poller-killed"]["jobs"]
    assert rows["throttled-callbacks"]["injected"] == 3 * rows["throttled-callbacks"]["jobs"]
    assert rows["failing-callbacks"]["injected"] == 5 * rows["failing-callbacks"]["jobs"]
    assert rows["concurrent-polls"]["injected"] == 5 * rows["concurrent-polls"]["jobs"]
    # The approval race counts only decisions the service claimed within 100 ms of the task's deadline.
    race = rows["approval-deadline-race"]
    claimed = race["notes"]["decision claimed minus deadline (ms)"]
    assert sum(abs(ms) <= 100 for ms in claimed) == race["injected"] >= 1, race
    # The export records were waited for up to the queue's visibility timeout (plus 30 s), and the wait shown.
    export = rows["export-duplicate-delivery"]["notes"]
    assert export["waited for the records (s)"] <= export["wait limit: visibility timeout + 30 s"] + 5, export
