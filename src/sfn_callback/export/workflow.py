"""``poc-export-workflow``: load ``workflow.asl.json`` and fill in its placeholders.

The file stays valid JSON: placeholders are strings (``"${ExportTimeoutSeconds}"``). Substitution works on the
parsed document: a string that is exactly one placeholder is replaced by the value itself (so numbers stay
numbers); a placeholder inside a longer string is replaced textually. Placeholders:

* ``ExportQueueUrl``: URL of the ``poc-export-jobs`` queue.
* ``ExportTimeoutSeconds``: the callback task's ``TimeoutSeconds`` (an integer).
* ``ExportHeartbeatSeconds``: the callback task's ``HeartbeatSeconds`` (an integer, less than the timeout).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

ASL_FILE = "workflow.asl.json"
PLACEHOLDERS = ("ExportQueueUrl", "ExportTimeoutSeconds", "ExportHeartbeatSeconds")
_PATTERN = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")


def raw_definition() -> dict[str, Any]:
    """The ASL document with its placeholders."""
    return json.loads(resources.files("sfn_callback.export").joinpath(ASL_FILE).read_text(encoding="utf-8"))


def substitute(document: Any, values: dict[str, Any]) -> Any:
    """Replace ``${Name}`` placeholders in a parsed JSON document; a missing value is an error."""
    if isinstance(document, dict):
        return {key: substitute(value, values) for key, value in document.items()}
    if isinstance(document, list):
        return [substitute(value, values) for value in document]
    if isinstance(document, str):
        whole = _PATTERN.fullmatch(document)
        if whole:
            return _value(whole.group(1), values)
        return _PATTERN.sub(lambda m: str(_value(m.group(1), values)), document)
    return document


def _value(name: str, values: dict[str, Any]) -> Any:
    if name not in values:
        raise KeyError(f"no value for placeholder ${{{name}}} in {ASL_FILE}")
    return values[name]


def definition(queue_url: str, *, timeout_seconds: int = 3600, heartbeat_seconds: int = 60) -> dict[str, Any]:
    """The deployable state machine definition."""
    if not 0 < heartbeat_seconds < timeout_seconds:
        raise ValueError("need 0 < heartbeat_seconds < timeout_seconds")
    return substitute(
        raw_definition(),
        {
            "ExportQueueUrl": queue_url,
            "ExportTimeoutSeconds": int(timeout_seconds),
            "ExportHeartbeatSeconds": int(heartbeat_seconds),
        },
    )


def definition_json(queue_url: str, *, timeout_seconds: int = 3600, heartbeat_seconds: int = 60) -> str:
    return json.dumps(definition(queue_url, timeout_seconds=timeout_seconds, heartbeat_seconds=heartbeat_seconds))
