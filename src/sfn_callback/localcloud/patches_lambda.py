"""Lambda's ``ListEventSourceMappings`` filtered as AWS filters it.

AWS accepts ``FunctionName`` as a name (``my-function``), a name with a qualifier (``my-function:live``), a
full ARN (``arn:aws:lambda:us-east-1:123456789012:function:my-function``) or a partial ARN
(``123456789012:function:my-function``), and lists the mappings of that function however they were created.
moto 5.2 compares the filter with the text the mapping was created with, so a mapping created with the
function's ARN (as Terraform creates it) is missing from a listing by name, and the deployer would create it
a second time.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from sfn_callback.localcloud.patching import mark, replace

_FULL = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
                   r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")
_PARTIAL = re.compile(r"^(?P<account>\d{12}):function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")
_NAME = re.compile(r"^(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")


class FunctionRef(NamedTuple):
    name: str
    qualifier: str | None = None
    account: str | None = None
    region: str | None = None


def parse_function(name_or_arn: str) -> FunctionRef | None:
    """What a ``FunctionName`` parameter names; None when it is none of AWS's accepted forms."""
    for pattern in (_FULL, _PARTIAL, _NAME):
        match = pattern.match(name_or_arn or "")
        if match:
            parts = match.groupdict()
            return FunctionRef(parts["name"], parts.get("qualifier"), parts.get("account"), parts.get("region"))
    return None


def same_function(wanted: FunctionRef, function_arn: str) -> bool:
    """True when the mapping's ``FunctionArn`` is the function (and qualifier) ``wanted`` names."""
    have = parse_function(function_arn)
    if have is None:
        return False
    return (wanted.name == have.name and (wanted.qualifier or None) == (have.qualifier or None)
            and wanted.account in (None, have.account) and wanted.region in (None, have.region))


def install() -> None:
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.list_event_source_mappings
    if getattr(original, "_sfn_callback_filtered", False):
        return

    def list_event_source_mappings(self: Any, event_source_arn: str, function_name: str) -> Any:
        mappings = original(self, event_source_arn, "")
        if not function_name:
            return mappings
        wanted = parse_function(function_name)
        if wanted is None:
            return []
        return [m for m in mappings if same_function(wanted, m.function_arn)]

    mark(list_event_source_mappings, "_sfn_callback_filtered")
    replace(LambdaBackend, "list_event_source_mappings", list_event_source_mappings)
