"""The Terraform-facing description of the stack (``build/stack.json``), generated from the same spec the
deployer applies, so the Terraform module in ``infra/terraform`` cannot drift from it.

The stack is built for a target, AWS (``local=False``, the default) or a local one (``local=True``: the
local cloud or LocalStack, with the local settings the spec gives such targets: ``SFN_CALLBACK_LOCAL`` in
every function's environment, sub-minute schedules, the export service's short heartbeat timings), with three
tokens in place of what only Terraform knows: the account id, the region and the name prefix. ``infra/terraform/main.tf`` replaces them in the JSON text
before ``jsondecode``; :func:`render` does exactly the same here, and the tests compare the rendered
document with each resource's ``properties()``. Resources refer to each other by their spec names (the map
keys, stable whatever the prefix), and name or ARN strings carry the tokens.

State machine definitions are not copied: each entry names its ASL file (relative to the source root),
and Terraform renders that same file with ``templatefile`` and the entry's ``substitutions``.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from sfn_callback.deploy.spec import (
    Alarm,
    Bucket,
    Dashboard,
    EventSourceMapping,
    Function,
    FunctionUrl,
    LogGroup,
    Queue,
    Role,
    Schedule,
    ScheduleGroup,
    Stack,
    StackContext,
    StateMachine,
    Table,
    Topic,
    managed_tags,
    policy_document,
    substitute,
)

ACCOUNT_TOKEN = "__ACCOUNT_ID__"
REGION_TOKEN = "__REGION__"
PREFIX_TOKEN = "__NAME_PREFIX__"
DEFAULT_PREFIX = "poc"
MANIFEST_VERSION = 1

# A resource name, or a name inside an ARN, URL or path, that starts with the default prefix.
_PREFIX_RE = re.compile(r"(?<![A-Za-z0-9_.-])" + DEFAULT_PREFIX + "-")

# Manifest section for each resource kind; a kind missing here makes build_manifest fail loudly.
SECTIONS = {
    "log-group": "log_groups",
    "table": "tables",
    "bucket": "buckets",
    "queue": "queues",
    "role": "roles",
    "function": "functions",
    "function-url": "function_urls",
    "event-source-mapping": "event_source_mappings",
    "schedule-group": "schedule_groups",
    "schedule": "schedules",
    "state-machine": "state_machines",
    "topic": "topics",
    "alarm": "alarms",
    "dashboard": "dashboards",
}


# Fields that name another entry of the manifest by its key (a spec name): never tokenized.
REFERENCES = {
    "queues": ("dlq",),
    "functions": ("role", "log_group"),
    "function_urls": ("function",),
    "event_source_mappings": ("function", "queue"),
    "schedules": ("group", "function", "role"),
    "state_machines": ("role",),
    "alarms": ("topic",),
}


class ManifestError(ValueError):
    """The stack holds something the Terraform module cannot express."""


TARGETS = ("aws", "local")


def terraform_context(stack_name: str = "sfn-callback", target: str = "aws") -> StackContext:
    """The context of the manifest for ``target`` (``aws`` or ``local``), tokens in place of account and region."""
    if target not in TARGETS:
        raise ManifestError(f"unknown target {target!r}: expected one of {', '.join(TARGETS)}")
    return StackContext(account_id=ACCOUNT_TOKEN, region=REGION_TOKEN, local=target == "local",
                        stack_name=stack_name)


def tokenize(value: Any) -> Any:
    """Put the prefix token in place of the default ``poc-`` prefix in every string."""
    if isinstance(value, dict):
        return {k: tokenize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tokenize(v) for v in value]
    if isinstance(value, str):
        return _PREFIX_RE.sub(PREFIX_TOKEN + "-", value)
    return value


def _table(t: Table) -> dict[str, Any]:
    attributes = {t.partition_key.name: t.partition_key.type}
    if t.sort_key:
        attributes[t.sort_key.name] = t.sort_key.type
    gsis = []
    for g in sorted(t.gsis, key=lambda g: g.name):
        attributes[g.partition_key.name] = g.partition_key.type
        if g.sort_key:
            attributes[g.sort_key.name] = g.sort_key.type
        gsis.append({"name": g.name, "hash_key": g.partition_key.name,
                     "range_key": g.sort_key.name if g.sort_key else None})
    return {
        "name": t.name,
        "hash_key": t.partition_key.name,
        "range_key": t.sort_key.name if t.sort_key else None,
        "attributes": [{"name": k, "type": v} for k, v in sorted(attributes.items())],
        "gsis": gsis,
        "ttl_attribute": t.ttl_attribute,
    }


def _entry(r: Any, ctx: StackContext) -> dict[str, Any]:
    if isinstance(r, Table):
        return _table(r)
    if isinstance(r, Queue):
        return {"name": r.name, "visibility_timeout": r.visibility_timeout, "dlq": r.dlq,
                "max_receive_count": r.max_receive_count if r.dlq else None}
    if isinstance(r, Role):
        return {"name": r.name, "service": r.assumed_by,
                "policy": policy_document(r.permissions) if r.permissions else None}
    if isinstance(r, Function):
        return {"name": r.name, "handler": r.handler, "runtime": r.runtime, "timeout": r.timeout,
                "memory": r.memory, "environment": r.environment(ctx), "role": r.role_name,
                "log_group": f"/aws/lambda/{r.name}"}
    if isinstance(r, FunctionUrl):
        return {"function": r.function, "auth_type": r.auth_type}
    if isinstance(r, EventSourceMapping):
        return {"function": r.function, "queue": r.queue, "batch_size": r.batch_size,
                "report_batch_item_failures": r.report_batch_item_failures}
    if isinstance(r, ScheduleGroup):
        return {"name": r.name}
    if isinstance(r, Schedule):
        return {"name": r.schedule, "group": r.group, "expression": r.expression, "function": r.function,
                "role": r.role, "input": r.input}
    if isinstance(r, LogGroup):
        return {"name": r.name, "retention_days": r.retention_days}
    if isinstance(r, Bucket):
        return {"name": r.name, "public_access_blocked": r.properties(ctx)["publicAccessBlocked"]}
    if isinstance(r, StateMachine):
        return _state_machine(r)
    if isinstance(r, Topic):
        return {"name": r.name}
    if isinstance(r, Alarm):
        return _alarm(r)
    if isinstance(r, Dashboard):
        return {"name": r.name, "body": r.body}
    raise ManifestError(f"no Terraform mapping for {type(r).__name__} ({getattr(r, 'kind', '?')})")


def _alarm(r: Alarm) -> dict[str, Any]:
    """The attributes of ``aws_cloudwatch_metric_alarm``: one metric, or ``queries`` (its ``metric_query`` blocks,
    a metric's fields or an expression's, the others null)."""
    queries = []
    for q in r.queries:
        queries.append({"id": q.id, "expression": q.expression, "label": q.label, "return_data": q.return_data,
                        "namespace": q.namespace, "metric_name": q.metric_name,
                        "dimensions": dict(sorted(q.dimensions)) if q.expression is None else None,
                        "stat": q.stat, "period": q.period})
    single = not r.queries
    return {
        "name": r.name, "description": r.description, "comparison": r.comparison, "threshold": float(r.threshold),
        "evaluation_periods": r.evaluation_periods,
        "datapoints_to_alarm": r.datapoints_to_alarm or r.evaluation_periods,
        "treat_missing_data": r.treat_missing_data, "topic": r.topic,
        "namespace": r.namespace if single else None, "metric_name": r.metric_name if single else None,
        "dimensions": dict(sorted(r.dimensions)) if single else None,
        "statistic": r.statistic if single else None, "period": r.period if single else None,
        "queries": queries,
    }


def _state_machine(r: StateMachine) -> dict[str, Any]:
    """The ASL file and its substitutions when that is what the spec deploys; otherwise (a state machine
    whose ``definition()`` computes more than the placeholders) the definition itself, inline."""
    asl = resources.files(r.definition_package).joinpath(r.definition_file).read_text()
    subs = dict(sorted(r.substitutions))
    entry: dict[str, Any] = {"name": r.name, "role": r.role, "definition_file": None, "substitutions": {},
                             "definition": None}
    if substitute(json.loads(asl), subs) == r.definition():
        entry["definition_file"] = "/".join([*r.definition_package.split("."), r.definition_file])
        entry["substitutions"] = subs
    else:
        entry["definition"] = json.dumps(r.definition(), sort_keys=True)
    return entry


def build_manifest(stack: Stack) -> dict[str, Any]:
    """The stack as Terraform consumes it: one map per section, keyed by spec name."""
    if (stack.ctx.account_id, stack.ctx.region) != (ACCOUNT_TOKEN, REGION_TOKEN):
        raise ManifestError("the Terraform manifest needs the account and region tokens; build it with "
                            "terraform_context()")
    if stack.problems:
        raise ManifestError("the configuration cannot work: " + "; ".join(stack.problems))
    doc: dict[str, Any] = {"version": MANIFEST_VERSION, "stack_name": stack.ctx.stack_name,
                           "target": "local" if stack.ctx.local else "aws", "tags": managed_tags(stack.ctx)}
    doc.update({section: {} for section in SECTIONS.values()})
    unknown = sorted({r.kind for r in stack.resources} - set(SECTIONS))
    if unknown:
        raise ManifestError(f"resource kind(s) {unknown} have no section in the Terraform manifest")
    for r in stack.ordered():
        section = SECTIONS.get(r.kind)
        if section is None:
            raise ManifestError(f"resource kind {r.kind!r} has no section in the Terraform manifest")
        entry = _entry(r, stack.ctx)
        refs = REFERENCES.get(section, ())
        doc[section][r.name] = {k: (v if k in refs else tokenize(v)) for k, v in entry.items()}
    for section, fields in REFERENCES.items():
        for key, entry in doc[section].items():
            for name in fields:
                target = _reference_section(section, name)
                if entry[name] is not None and entry[name] not in doc[target]:
                    raise ManifestError(f"{section}[{key}].{name} = {entry[name]!r}: no such entry in {target}")
    # Secrets the functions read: Terraform looks each up (a missing one fails the plan), never creates it.
    doc["required_secrets"] = {
        s.ref: {"service": s.ref.partition(":")[0], "name": s.ref.partition(":")[2], "purpose": s.purpose}
        for s in stack.secrets if not (s.optional_locally and stack.ctx.local)}
    for key, queue in doc["queues"].items():
        dlq = queue["dlq"]
        if dlq is not None and doc["queues"].get(dlq, {}).get("dlq") is not None:
            raise ManifestError(f"queue {key}: its DLQ {dlq} has a DLQ of its own (not expressible here)")
    return doc


def _reference_section(section: str, name: str) -> str:
    if name == "dlq":
        return "queues"
    return {"role": "roles", "log_group": "log_groups", "function": "functions", "queue": "queues",
            "group": "schedule_groups", "topic": "topics"}[name]


def manifest_text(stack: Stack) -> str:
    return json.dumps(build_manifest(stack), indent=2, sort_keys=True) + "\n"


def render(text: str, *, account_id: str, region: str, name_prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """What ``main.tf`` does with the manifest: three string replacements on the text, then decode."""
    text = text.replace(PREFIX_TOKEN, name_prefix).replace(ACCOUNT_TOKEN, account_id).replace(REGION_TOKEN, region)
    return json.loads(text)


def render_template(template: str, values: dict[str, str]) -> str:
    """Terraform's ``templatefile`` for the only syntax ASL files use: ``${Name}`` interpolation."""
    if "%{" in template:
        raise ManifestError("template directives (%{...}) are not expected in ASL files")

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ManifestError(f"templatefile: no value for ${{{name}}}")
        return values[name]

    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", one, template)
