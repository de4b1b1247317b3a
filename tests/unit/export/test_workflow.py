"""poc-export-workflow: placeholders and shape (runs on the local cloud: tests/integration/export)."""

from __future__ import annotations

import pytest

from sfn_callback.export.workflow import PLACEHOLDERS, definition, raw_definition, substitute


def test_file_is_valid_json_with_string_placeholders() -> None:
    raw = raw_definition()
    task = raw["States"]["StartExportJob"]
    assert task["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert (task["TimeoutSeconds"], task["HeartbeatSeconds"]) == ("${ExportTimeoutSeconds}", "${ExportHeartbeatSeconds}")
    assert "Retry" not in task
    assert [c["Next"] for c in task["Catch"]] == ["HandlePartialFailure", "HandleTimeout", "HandleFailure"]
    assert task["Catch"][1]["ErrorEquals"] == ["States.Timeout", "States.HeartbeatTimeout"]
    assert task["Parameters"]["MessageBody"]["taskToken.$"] == "$$.Task.Token"
    assert set(PLACEHOLDERS) == {"ExportQueueUrl", "ExportTimeoutSeconds", "ExportHeartbeatSeconds"}


def test_substitution_keeps_numbers_numbers() -> None:
    d = definition("http://q/poc-export-jobs", timeout_seconds=120, heartbeat_seconds=10)
    task = d["States"]["StartExportJob"]
    assert task["TimeoutSeconds"] == 120 and task["HeartbeatSeconds"] == 10
    assert task["Parameters"]["QueueUrl"] == "http://q/poc-export-jobs"
    assert substitute({"a": "x-${N}-y", "b": ["${N}"]}, {"N": 3}) == {"a": "x-3-y", "b": [3]}
    with pytest.raises(KeyError, match="ExportQueueUrl"):
        substitute(raw_definition(), {})
    with pytest.raises(ValueError):
        definition("http://q", timeout_seconds=10, heartbeat_seconds=10)
