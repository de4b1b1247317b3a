"""The approvers' page in Debian's chromium (Playwright): sign in with a key, approve a task, see it resume."""

from __future__ import annotations

import json
import os

import pytest

from approval_support import KEYS
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


def test_sign_in_approve_and_the_execution_resumes(approval_stack, approval_api):
    order, arn = approval_stack.start(details={"amount": 99})
    approval_stack.wait_item(order)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.goto(approval_api.url + "/")
            page.fill("#key", "not-the-right-key-000")
            page.click("#login button[type=submit]")
            page.wait_for_selector("#login-error:has-text('not allowed')")
            page.fill("#key", KEYS["alice"])
            page.click("#login button[type=submit]")
            row = page.locator(f"#tasks tbody tr[data-order-id='{order}']")
            row.wait_for()
            assert '"amount":99' in row.locator("td.details").inner_text()
            assert row.locator("td.left").inner_text() not in ("", "expired")
            row.locator("input.reason").fill("looks right")
            row.locator("button.approve").click()
            page.wait_for_selector(f"#messages li.ok:has-text('{order}')")
            row.wait_for(state="detached")
            # Another task arriving later shows up by polling, without a reload.
            later, later_arn = approval_stack.start()
            page.locator(f"#tasks tbody tr[data-order-id='{later}']").wait_for()
        finally:
            browser.close()
    done = approval_stack.wait_done(arn)
    output = json.loads(done["output"])
    assert output["status"] == "APPROVED" and output["decision"]["decidedBy"] == "alice"
    assert output["decision"]["reason"] == "looks right"
    wait_for(lambda: approval_stack.item(later), what="second task stored")
