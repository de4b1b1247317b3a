"""What the approval API does with requests a client gets wrong, over real HTTP on the local cloud.

The order of the checks (authentication, size, media type, strict JSON, the body's fields) and that nothing a
client sends poisons a task or produces a 500: after every refused request the task is still PENDING,
unclaimed, and can be decided.
"""

from __future__ import annotations

import json

import pytest

from approval_support import KEYS

pytestmark = pytest.mark.cloud

JSON = {"Content-Type": "application/json"}


def _unclaimed(stack, order: str) -> None:
    item = stack.item(order)
    assert item["status"]["S"] == "PENDING" and "decision" not in item and "callbackState" not in item
    assert [e["M"]["event"]["S"] for e in item["audit"]["L"]] == ["RECEIVED"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_refused_before_any_claim(approval_stack, approval_api, literal):
    order, arn = approval_stack.start(timeoutSeconds=60)
    approval_stack.wait_item(order)
    with approval_api.client() as http:
        for body in (f'{{"output": {{"v": {literal}}}}}', f'{{"output": [1, {literal}]}}', f'{{"output": {literal}}}'):
            refused = http.post(f"/tasks/{order}/approve", content=body.encode(), headers=JSON)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "invalid_request"
        _unclaimed(approval_stack, order)
        assert http.get(f"/tasks/{order}").status_code == 200
        assert http.get("/tasks").status_code == 200
        ok = http.post(f"/tasks/{order}/approve", json={"output": {"v": 1.5e308}})
        assert ok.status_code == 200, ok.text
    assert json.loads(approval_stack.wait_done(arn)["output"])["decision"]["output"] == {"v": 1.5e308}


def test_authentication_comes_first(approval_stack, approval_api):
    wrong_key = {"Authorization": "Bearer " + KEYS["alice"][:-1] + "X"}
    bad_bodies = [
        (b"{not json", JSON),
        (b'{"output": NaN}', JSON),
        (b"approve it", {"Content-Type": "text/plain"}),
        (b"x" * 70_000, JSON),  # over the 64 KB limit
    ]
    with approval_api.client(None) as anonymous:
        for body, headers in bad_bodies:
            for path in ("/tasks/o-x/approve", "/tasks/o-x/reject"):
                none = anonymous.post(path, content=body, headers=headers)
                assert none.status_code == 401, (path, body[:20], none.text)
                assert none.json()["error"]["code"] == "unauthenticated" and none.headers["www-authenticate"] == "Bearer"
                assert none.headers["x-content-type-options"] == "nosniff"
                wrong = anonymous.post(path, content=body, headers={**headers, **wrong_key})
                assert wrong.status_code == 403, (path, body[:20], wrong.text)
        assert anonymous.get("/tasks?limit=zero").status_code == 401
        assert anonymous.get("/no/such/path").status_code == 401


def test_a_body_that_is_not_json_is_415_saying_what_is_expected(approval_stack, approval_api):
    order, _ = approval_stack.start(timeoutSeconds=60)
    approval_stack.wait_item(order)
    with approval_api.client() as http:
        for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}):
            refused = http.post(f"/tasks/{order}/reject", content=b'{"reason": "no"}', headers=headers)
            assert refused.status_code == 415, (headers, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "unsupported_media_type" and "Content-Type: application/json" in error["message"]
        # JSON media types with parameters, and +json, are JSON; an approve without a body needs no type at all.
        vendor = http.post(f"/tasks/{order}/reject", content=b'{"reason": 7}',
                           headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})
        assert vendor.status_code == 422 and "reason" in vendor.json()["error"]["message"]
        _unclaimed(approval_stack, order)
        assert http.post(f"/tasks/{order}/approve").status_code == 200


def test_no_client_input_produces_a_server_error(approval_stack, approval_api):
    order, arn = approval_stack.start(timeoutSeconds=60)
    approval_stack.wait_item(order)
    bodies = [
        b"\xff\xfe{\x00}",  # not UTF-8
        b"\xef\xbb\xbf{}",  # a byte order mark
        b"[" * 30_000 + b"]" * 30_000,  # 30,000 levels deep, under the size limit
        b'{"output": ' + b"[" * 64 + b"]" * 64 + b"}",  # just over the nesting limit
        b'{"output": ' + b"9" * 5000 + b"}",  # an integer longer than Python converts
        b'{"output": "\\ud800"}',  # a lone surrogate: valid JSON syntax, no character
        b"[]", b"null", b'"approve"', b"0", b"{}{}", b"{",
        b'{"reason": 5}', b'{"reason": false}', b'{"reason": ["a"]}', b'{"reason": "' + b"r" * 1001 + b'"}',
        b'{"output": 1, "extra": true}',
    ]
    statuses = {}
    with approval_api.client() as http:
        for body in bodies:
            for action in ("approve", "reject"):
                response = http.post(f"/tasks/{order}/{action}", content=body, headers=JSON)
                statuses[(action, body[:24])] = response.status_code
                assert response.headers["content-type"].startswith("application/json"), response.text[:200]
                assert response.json().get("error", {}).get("code") == "invalid_request", (body[:30], response.text[:300])
        assert set(statuses.values()) == {422}, statuses
        _unclaimed(approval_stack, order)
        # An approve without a body is a valid approve with no output: the task was not poisoned by the above.
        assert http.post(f"/tasks/{order}/approve").status_code == 200
        assert http.get(f"/tasks/{order}").json()["status"] == "APPROVED"
    assert json.loads(approval_stack.wait_done(arn)["output"])["status"] == "APPROVED"
