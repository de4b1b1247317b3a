"""`sfn-callback report`'s monitoring section, from the session's local cloud: a scenario run by `run`, an alarm
the evaluator put in ALARM meanwhile; the report draws the metrics and lists the alarm's history. Against a
local cloud that is down the report is still written and says there is no monitoring data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sfn_callback.localcloud import process

pytestmark = pytest.mark.cloud


def cli(state_dir, endpoint: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SFN_CALLBACK_STATE_DIR": str(state_dir)}
    done = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "--endpoint", endpoint, *args],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_report_has_the_graphs_and_alarm_history_of_the_latest_runs(stack, make_alarm, tmp_path):
    state = tmp_path / "state"
    alarm = make_alarm("report", treat_missing="breaching")
    cli(state, stack.endpoint_url, "run", "--scenario", "complete", "--no-deploy", "--json")
    alarm.wait_alarm()  # meanwhile the evaluator has put it in ALARM (within a 10-second period)
    out = tmp_path / "report"
    done = cli(state, stack.endpoint_url, "report", "--out", str(out), "--json")
    summary = json.loads(done.stdout)
    assert summary["monitoring"]["error"] is None and summary["monitoring"]["graphs"] >= 1
    assert f"CloudWatch of {stack.endpoint_url}" in summary["sources"]
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    section = markdown.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    assert "the latest scenario runs; 1 scenario(s): complete" in section
    # the stack's CloudWatch dashboard chooses the graphs; the run's callback is one of their data points
    assert "graphs from dashboard poc-callbacks" in section, section
    row = next(line for line in section.splitlines() if line.startswith("| Callbacks sent and failed |"))
    assert int(row.split("|")[3]) >= 1, row  # data points
    assert (out / "monitoring-metrics.png").stat().st_size > 10000
    assert "![Metrics over the latest scenario runs](monitoring-metrics.png)" in section
    assert "<figcaption>Metrics over the latest scenario runs</figcaption>" in page
    # the alarm's state now and its history rows in the runs' time
    assert f"| {alarm.name} | ALARM |" in section
    assert f"| {alarm.name} | StateUpdate | Alarm updated from INSUFFICIENT_DATA to ALARM |" in section
    assert f"| {alarm.name} | Action | Successfully executed action {alarm.topic_arn} |" in section


def test_a_report_without_a_reachable_cloud_says_there_is_no_monitoring_data(tmp_path):
    dead = f"http://127.0.0.1:{process.free_port()}"
    out = tmp_path / "report"
    done = cli(tmp_path / "state", dead, "report", "--out", str(out), "--json")
    assert json.loads(done.stdout)["monitoring"]["error"].startswith(f"cannot reach {dead}")
    section = (out / "report.md").read_text().split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    assert f"No monitoring data: cannot reach {dead}" in section
    assert not (out / "monitoring-metrics.png").exists()
    skipped = cli(tmp_path / "state", dead, "report", "--out", str(out), "--no-monitoring", "--json")
    assert json.loads(skipped.stdout)["monitoring"] is None
    assert "Monitoring data not collected" in (out / "report.md").read_text()
