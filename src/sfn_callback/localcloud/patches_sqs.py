"""SQS attributes as AWS formats them.

AWS returns the JSON-valued queue attributes (``RedrivePolicy``, ``Policy``) as compact JSON
(``{"deadLetterTargetArn":"arn:...","maxReceiveCount":3}``); moto 5.2 returns ``json.dumps`` output with
spaces. Clients that compare the text (the AWS provider for Terraform among them) then see a change that is
not there, and a plan never converges.
"""

from __future__ import annotations

import json
from typing import Any

from sfn_callback.localcloud.patching import mark, replace

JSON_ATTRIBUTES = ("RedrivePolicy", "Policy", "RedriveAllowPolicy")


def compact(text: Any) -> Any:
    """``text`` re-serialized as compact JSON; anything that is not a JSON string is returned unchanged."""
    if not isinstance(text, str):
        return text
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return text


def install() -> None:
    from moto.sqs.models import Queue

    original = vars(Queue)["attributes"].fget  # the property itself (moto declares Queue.attributes one)
    if getattr(original, "_sfn_callback_compact", False):
        return

    def attributes(self: Any) -> dict[str, Any]:
        result = original(self)
        for name in JSON_ATTRIBUTES:
            if name in result:
                result[name] = compact(result[name])
        return result

    mark(attributes, "_sfn_callback_compact")
    replace(Queue, "attributes", property(attributes))
