"""The dashboard page in Debian's chromium (Playwright), served by `sfn-callback dashboard` against the session's
local cloud with the stack deployed: a waiting workflow with its masked token and next poll, the execution
counts, an alarm the evaluator put in ALARM with its notification read from the subscribed queue, its graph; a
job started after the page opened appears without a reload; a screenshot is saved. Then the page of a dashboard
whose local cloud is down says so (served in this process)."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.common.tokens import mask_token
from sfn_callback.config import Target
from sfn_callback.dashboard.app import create_app
from sfn_callback.dashboard.collect import Collector
from sfn_callback.localcloud import process
from support import wait_for

pytestmark = pytest.mark.cloud

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

import playwright.sync_api as playwright_api  # noqa: E402  (a development dependency)

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):  # `make test` installs it first; in CI a missing browser is a failure, not a skip
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/ensure-test-tools.sh did not install chromium")
    pytest.skip("chromium not installed (scripts/ensure-test-tools.sh installs it)", allow_module_level=True)


def test_the_page_shows_waiting_workflows_executions_alarms_and_refreshes(stack, dashboard, jobs, make_alarm,
                                                                       tmp_path):
    alarm = make_alarm("dash")  # in ALARM at the end of this 10-second period
    order, approval = jobs.start_approval()
    first = jobs.start_waiting()
    record = jobs.record(first)
    token = record["taskToken"]
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30000)
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(dashboard.url + "/")
            page.wait_for_selector("body[data-refreshes]")
            page.evaluate("window.__sameDocument = 'yes'")

            # A waiting workflow: its execution, the masked token (never the whole one), its next poll.
            row = page.locator(f"#waiting tbody tr[data-job-id='{record['jobId']}']")
            row.wait_for()
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == "poc-callback-workflow" and cells[1] == first.rsplit(":", 1)[-1]
            assert cells[3] == mask_token(token) and token not in page.content()
            assert token not in httpx.get(dashboard.url + "/api/dashboard", timeout=30).text
            assert cells[4] == "POLLING" and cells[8] == "RUNNING"
            assert re.fullmatch(r"in \d+s", cells[6]), cells[6]  # the next poll, 30 s after the last one

            # A workflow waiting for a person: the approval task, its token masked too.
            waiting_decision = page.locator(f"#waiting tbody tr[data-kind='approval'][data-job-id='{order}']")
            waiting_decision.wait_for()
            cells = waiting_decision.locator("td").all_inner_texts()
            assert cells[0] == "poc-approval-workflow" and cells[1] == order and cells[6] == "a person decides"
            approval_token = jobs.approval_item(order)["taskToken"]["S"]
            assert cells[3] == mask_token(approval_token) and approval_token not in page.content()

            # Executions by status: the page's RUNNING count of poc-callback-workflow is the API's.
            running = page.locator("#executions tbody tr[data-machine='poc-callback-workflow'] td.count-RUNNING")
            wait_for(lambda: running.inner_text() == str(jobs.running()), timeout=20, interval=0.5,
                     what="RUNNING count equal to ListExecutions'")
            assert int(running.inner_text()) >= 1

            # The alarm in ALARM with the evaluator's reason, and the notification read from the queue.
            alarm_row = page.locator(f"#alarms tbody tr[data-alarm='{alarm.name}'][data-state='ALARM']")
            alarm_row.wait_for(timeout=40000)  # the page shows the evaluator's change on a refresh
            assert "Threshold Crossed" in alarm_row.inner_text()
            notice = page.locator(f"#notifications tbody tr[data-alarm='{alarm.name}']", has_text="queue")
            notice.first.wait_for()
            assert "ALARM" in notice.first.inner_text() and "Threshold Crossed" in notice.first.inner_text()
            history = page.locator("#history tbody tr", has_text=alarm.name)
            history.filter(has_text="to ALARM").first.wait_for()
            # The alarm's metric drawn from GetMetricData, with its threshold.
            graph = page.locator(f".graph[data-title='alarm {alarm.name}']")
            graph.wait_for()
            assert int(graph.locator("svg").get_attribute("data-points")) >= 1
            assert graph.locator("path.series").count() == 1 and graph.locator("line.threshold").count() == 1
            # The message is still on the queue: the page read it without consuming it.
            sqs = stack.client("sqs")
            assert sqs.get_queue_attributes(QueueUrl=alarm.queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"]["ApproximateNumberOfMessages"] == "1"

            # A job started now shows up by polling, without a reload.
            refreshes = int(page.get_attribute("body", "data-refreshes"))
            later = jobs.start_waiting()
            later_record = jobs.record(later)
            page.locator(f"#waiting tbody tr[data-job-id='{later_record['jobId']}']").wait_for()
            assert page.evaluate("window.__sameDocument") == "yes"
            assert int(page.get_attribute("body", "data-refreshes")) > refreshes
            assert all(url.startswith(dashboard.url) for url in requests), "the page fetched from elsewhere"

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20000
            print(f"screenshot: {shot}")
        finally:
            browser.close()


def test_the_page_says_when_the_local_cloud_is_down(tmp_path):
    dead = f"http://127.0.0.1:{process.free_port()}"
    app = create_app(Collector(Target(dead)), refresh_seconds=1)
    with ServerThread(app) as served:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(30000)
                page.goto(served.url + "/")
                banner = page.locator("#banner")
                banner.wait_for()
                text = banner.inner_text()
                assert f"cannot reach {dead}" in text and "sfn-callback up" in text
                assert "cannot reach" in page.locator("#waiting-note").inner_text()
                page.screenshot(path=str(tmp_path / "dashboard-down.png"))
            finally:
                browser.close()
        document = httpx.get(served.url + "/api/dashboard", timeout=30)
        assert document.status_code == 200 and document.json()["error"].startswith(f"cannot reach {dead}")
