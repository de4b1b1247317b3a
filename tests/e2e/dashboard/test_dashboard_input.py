"""Bad input to `sfn-callback dashboard`: an endpoint that is not AWS, an unknown path, options it refuses; and
its graphs following a CloudWatch dashboard's body on the local cloud."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.config import Target
from sfn_callback.dashboard.app import create_app
from sfn_callback.dashboard.collect import Collector
from support import wait_for


class NotAws(BaseHTTPRequestHandler):
    """A web server that is not an AWS endpoint: every request gets an HTML 404."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>no such page</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - the HTTP verbs

    def log_message(self, *args: Any) -> None:
        pass


def test_an_endpoint_that_is_not_aws_and_unknown_paths_answer_clearly():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotAws)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    served = ServerThread(create_app(Collector(Target(endpoint)), refresh_seconds=1)).start()
    def get(path: str) -> httpx.Response:
        return httpx.get(served.url + path, timeout=60)

    try:
        document = get("/api/dashboard")
        assert document.status_code == 200
        doc = document.json()
        assert doc["target"] == endpoint
        for section in ("alarms", "executions", "waiting", "metrics", "graphs", "history", "notifications"):
            assert doc[section]["error"] and "did not answer as AWS does" in doc[section]["error"], (section, doc[section])
        page = get("/")
        assert page.status_code == 200 and "<script src=\"/static/app.js\"></script>" in page.text
        assert get("/static/app.js").headers["content-type"].startswith("text/javascript")
        missing = get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["error"]["status"] == 404
        assert get("/static/secrets.txt").status_code == 404
    finally:
        served.stop()
        server.shutdown()
        server.server_close()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", *args], capture_output=True, text=True,
                          timeout=60)


def test_refused_options():
    wide = run_cli("dashboard", "--host", "0.0.0.0")
    assert wide.returncode == 2 and "loopback" in wide.stderr and "Traceback" not in wide.stderr
    period = run_cli("dashboard", "--period", "7")
    assert period.returncode == 2 and "CloudWatch period" in period.stderr


@pytest.mark.cloud
def test_graphs_follow_the_cloudwatch_dashboard_body(local_cloud):
    """With a dashboard on the target, its metric widgets are the graphs: rows with "." shorthand, hidden
    rows and metric math, the widget's period and threshold annotation."""
    suffix = uuid.uuid4().hex[:8]
    namespace, name = f"SfnCallback/Dash{suffix}", f"dash-test-{suffix}"
    cw = local_cloud.client("cloudwatch")
    body = {"widgets": [
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": "# callbacks"}},
        {"type": "metric", "x": 0, "y": 2, "width": 12, "height": 6, "properties": {
            "title": "failure rate", "region": "us-east-1", "stat": "Sum", "period": 10, "view": "timeSeries",
            "metrics": [[namespace, "Callbacks", "Outcome", "error", {"id": "m1", "visible": False}],
                        [".", ".", ".", "success", {"id": "m2", "visible": False}],
                        [{"expression": "100 * m1 / (m1 + m2)", "label": "failure %", "id": "e1"}]],
            "annotations": {"horizontal": [{"label": "CallbackFailureRate", "value": 5}]}}}]}
    cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    now = time.time()
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Callbacks", "Dimensions": [{"Name": "Outcome", "Value": "error"}], "Value": 1, "Timestamp": now},
        {"MetricName": "Callbacks", "Dimensions": [{"Name": "Outcome", "Value": "success"}], "Value": 3,
         "Timestamp": now}])
    collector = Collector(Target(local_cloud.endpoint_url), dashboard_name=name)

    def rate():
        doc = collector.snapshot()["graphs"]
        ours = [g for g in doc["graphs"] if g["source"] == f"dashboard {name}"]
        return ours and ours[0]["series"] and ours[0]["series"][0]["points"] and doc

    doc = wait_for(rate, timeout=20, interval=0.5, what="the dashboard's graph with data")
    assert doc["source"] == f"dashboard {name}" and doc["dashboard"] == name
    ours = [g for g in doc["graphs"] if g["source"] == f"dashboard {name}"]  # others: alarms in ALARM, if any
    assert len(ours) == 1
    graph = ours[0]
    assert graph["title"] == "failure rate" and graph["period"] == 10
    assert graph["thresholds"] == [{"label": "CallbackFailureRate", "value": 5.0}]
    assert [s["label"] for s in graph["series"]] == ["failure %"]  # the hidden rows are computed, not drawn
    assert graph["series"][0]["points"][-1][1] == 25.0
    cw.delete_dashboards(DashboardNames=[name])
