"""Key configuration, constant-time checks, the SQS message model, cursors, the consumer's error text."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from sfn_callback.approval.adapters.dynamodb import InvalidCursor, decode_cursor, encode_cursor
from sfn_callback.approval.domain.model import Status
from sfn_callback.approval.entrypoints.auth import KeyConfigError, KeyRing, load_keys
from sfn_callback.approval.entrypoints.messages import ApprovalRequest
from sfn_callback.approval.entrypoints.poc_approval_consumer import describe_error

KEY_A, KEY_B = "a" * 20, "b-secret-key-0123456789"
GOOD = {"orderId": "o-1", "transactionId": "arn:aws:states:us-east-1:000000000000:execution:wf:o-1",
        "taskToken": "AAAAKgAAAAIAAAAAAAAAAQ" * 3, "startTime": "2025-01-01T00:00:00.123Z"}


def test_keys_from_env_and_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# approvers\nalice={KEY_A}\n\n")
    ring = load_keys(str(path), environ={"APPROVAL_API_KEYS": f"bob={KEY_B}"})
    assert ring.names == ["alice", "bob"]
    assert ring.verify(KEY_A) == "alice" and ring.verify(KEY_B) == "bob"
    assert ring.verify("a" * 19) is None and ring.verify("") is None


def test_json_keys_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"carol": KEY_A}))
    assert load_keys(str(path), environ={}).verify(KEY_A) == "carol"


@pytest.mark.parametrize("mapping, message", [
    ({"alice": "short"}, "at least 16"),
    ({"bad name": KEY_A}, "must match"),
    ({"alice": KEY_A, "bob": KEY_A}, "same key"),
    ({"alice": "has space in the key!"}, "whitespace"),
])
def test_bad_key_configuration_is_refused_clearly(mapping, message):
    with pytest.raises(KeyConfigError, match=message) as info:
        KeyRing.from_mapping(mapping)
    assert "has space" not in str(info.value) and KEY_A not in str(info.value)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(KeyConfigError, match="cannot read"):
        load_keys(str(tmp_path / "nope"), environ={})
    broken = tmp_path / "k.json"
    broken.write_text("{not json")
    with pytest.raises(KeyConfigError, match="not valid JSON"):
        load_keys(str(broken), environ={})


def test_no_keys_is_an_empty_ring():
    assert len(load_keys(None, environ={})) == 0


def test_message_model_defaults_and_refusals():
    request = ApprovalRequest.model_validate(GOOD)
    assert request.timeout_seconds == 120 and request.details == {} and request.start_time.tzinfo
    for broken in ({**GOOD, "orderId": ""}, {**GOOD, "orderId": "a/b"}, {k: v for k, v in GOOD.items() if k != "taskToken"},
                   {**GOOD, "transactionId": "nope"}, {**GOOD, "timeoutSeconds": 0}, {**GOOD, "startTime": "yesterday"}):
        with pytest.raises(ValidationError):
            ApprovalRequest.model_validate(broken)


def test_validation_errors_are_described_without_the_token():
    try:
        ApprovalRequest.model_validate({**GOOD, "orderId": "a/b"})
    except ValidationError as exc:
        text = describe_error(exc)
    assert "orderId" in text and GOOD["taskToken"] not in text


def test_cursor_round_trip_and_tampering():
    key = {"orderId": {"S": "o-1"}, "status": {"S": "PENDING"}, "startTime": {"S": "2025-01-01T00:00:00.000000Z"}}
    cursor = encode_cursor(key)
    assert decode_cursor(cursor, Status.PENDING) == key
    with pytest.raises(InvalidCursor, match="APPROVED"):
        decode_cursor(cursor, Status.APPROVED)
    for bad in ("!!!", "e30", cursor[:-3]):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, Status.PENDING)
