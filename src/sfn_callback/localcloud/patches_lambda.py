"""Lambda's ``ListEventSourceMappings`` filtered as AWS filters it, and ``AddPermission``'s function URL
conditions kept in the policy as AWS writes them.

AWS accepts ``FunctionName`` as a name (``my-function``), a name with a qualifier (``my-function:live``), a
full ARN (``arn:aws:lambda:us-east-1:123456789012:function:my-function``) or a partial ARN
(``123456789012:function:my-function``), and lists the mappings of that function however they were created.
moto 5.2 compares the filter with the text the mapping was created with, so a mapping created with the
function's ARN (as Terraform creates it) is missing from a listing by name, and the deployer would create it
a second time.

``AddPermission`` with ``FunctionUrlAuthType`` or ``InvokedViaFunctionUrl``: AWS turns them into the
statement's ``Condition`` (``StringEquals`` ``lambda:FunctionUrlAuthType``, ``Bool``
``lambda:InvokedViaFunctionUrl``); moto 5.2 leaves them as keys of the statement, where ``GetPolicy`` shows them
as no policy has them (:func:`url_conditions`).
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


URL_CONDITIONS = (("FunctionUrlAuthType", "StringEquals", "lambda:FunctionUrlAuthType"),
                  ("InvokedViaFunctionUrl", "Bool", "lambda:InvokedViaFunctionUrl"))


def url_conditions(statement: dict[str, Any]) -> dict[str, Any]:
    """``statement`` (moto's decoded AddPermission request) with its function URL parameters moved into
    ``Condition`` as AWS writes them (a boolean as ``"true"`` / ``"false"``)."""
    for parameter, operator, key in URL_CONDITIONS:
        if parameter in statement:
            value = statement.pop(parameter)
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            statement.setdefault("Condition", {}).setdefault(operator, {})[key] = text
    return statement


def install_policy_conditions() -> None:
    from moto.awslambda.policy import Policy

    original = Policy.decode_policy
    if getattr(original, "_sfn_callback_url_conditions", False):
        return

    def decode_policy(self: Any, obj: dict[str, Any]) -> Any:
        policy = original(self, obj)
        for statement in policy.statements:
            url_conditions(statement)
        return policy

    mark(decode_policy, "_sfn_callback_url_conditions")
    replace(Policy, "decode_policy", decode_policy)
