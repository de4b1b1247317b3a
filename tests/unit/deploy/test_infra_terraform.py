"""The Terraform module in infra/terraform against the stack spec the deployer applies.

Terraform reads build/stack.json (written by ``sfn-callback package`` from the spec, for AWS or with
``--target local`` for a local cloud). These tests check that (1) the manifest of either target, rendered as
main.tf renders it, describes exactly what the deployer deploys to that target, resource by resource (names,
keys, environment, IAM policies, ASL, tags); (2) the HCL consumes every field of every
manifest section and no field the manifest lacks; (3) the HCL is formatted and, where Terraform and an
offline AWS provider exist, valid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from sfn_callback.config import Target
from sfn_callback.deploy import manifest as mf
from sfn_callback.deploy.deployer import Drivers
from sfn_callback.deploy.spec import (
    TAGGED_KINDS,
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
    StackContext,
    StateMachine,
    Table,
    Topic,
    policy_document,
)
from sfn_callback.deploy.stack import build_stack
from terraform_support import provider_mirror, terraform_binary

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is needed to parse infra/terraform (pip install python-hcl2)")

ROOT = Path(__file__).resolve().parents[3]
TF_DIR = ROOT / "infra" / "terraform"
ACCOUNT, REGION = "111122223333", "eu-west-1"

# Terraform resource type(s) that realise each manifest section.
TERRAFORM_TYPES = {
    "log_groups": ("aws_cloudwatch_log_group",),
    "tables": ("aws_dynamodb_table",),
    "buckets": ("aws_s3_bucket", "aws_s3_bucket_public_access_block"),
    "queues": ("aws_sqs_queue",),
    "roles": ("aws_iam_role", "aws_iam_role_policy"),
    "functions": ("aws_lambda_function",),
    "function_urls": ("aws_lambda_function_url", "aws_lambda_permission"),
    "event_source_mappings": ("aws_lambda_event_source_mapping",),
    "schedule_groups": ("aws_scheduler_schedule_group",),
    "schedules": ("aws_scheduler_schedule",),
    "state_machines": ("aws_sfn_state_machine",),
    "topics": ("aws_sns_topic",),
    "alarms": ("aws_cloudwatch_metric_alarm",),
    "dashboards": ("aws_cloudwatch_dashboard",),
}


@pytest.fixture(scope="module", params=mf.TARGETS)
def target(request):
    return request.param


@pytest.fixture(scope="module")
def stack(target):
    return build_stack(mf.terraform_context(target=target))


@pytest.fixture(scope="module")
def manifest_text(stack):
    return mf.manifest_text(stack)


@pytest.fixture(scope="module")
def rendered(manifest_text):
    return mf.render(manifest_text, account_id=ACCOUNT, region=REGION)


@pytest.fixture(scope="module")
def deployed_stack(target):
    """The stack the deployer would apply to account ACCOUNT in REGION: AWS, or a local target there."""
    return build_stack(StackContext(account_id=ACCOUNT, region=REGION, local=target == "local"))


@pytest.fixture(scope="module")
def tf_files():
    return {p.name: p.read_text() for p in sorted(TF_DIR.glob("*.tf"))}


@pytest.fixture(scope="module")
def tf(tf_files):
    parsed: dict[str, list] = {"resource": [], "output": [], "variable": [], "locals": [], "data": []}
    for text in tf_files.values():
        doc = _unquote(hcl2.loads(text))
        for key in parsed:
            parsed[key] += doc.get(key, [])
    return parsed


def _unquote(doc):
    """python-hcl2 8 keeps the quotes of block labels ('"aws_iam_role"'); drop them."""
    if isinstance(doc, dict):
        return {k.strip('"') if isinstance(k, str) else k: _unquote(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_unquote(v) for v in doc]
    return doc


def tf_resources(tf) -> dict[tuple[str, str], dict]:
    out = {}
    for block in tf["resource"]:
        for rtype, named in block.items():
            for rname, body in named.items():
                out[(rtype, rname)] = body
    return out


# ------------------------------------------------------------------- manifest == deployer's stack
def test_every_kind_of_the_spec_has_a_manifest_section_and_terraform_resources(stack):
    from sfn_callback.deploy.spec import KIND_ORDER

    assert set(KIND_ORDER) | {r.kind for r in stack.resources} <= set(mf.SECTIONS), \
        "a resource kind the deployer knows has no Terraform mapping"
    assert set(mf.SECTIONS.values()) == set(TERRAFORM_TYPES)


def test_manifest_lists_exactly_the_deployers_resources(deployed_stack, rendered, target):
    assert rendered["target"] == target
    for kind, section in mf.SECTIONS.items():
        want = {r.name for r in deployed_stack.resources if r.kind == kind}
        got = set(rendered[section])
        assert got == want, f"{section}: only in manifest {got - want}, only in spec {want - got}"


def test_every_name_carries_the_prefix_token(stack):
    doc = mf.build_manifest(stack)
    for section in mf.SECTIONS.values():
        for key, entry in doc[section].items():
            if section in ("event_source_mappings", "function_urls"):
                continue  # named by the function (and queue) it joins
            if section == "alarms":
                continue  # seed 004's alarm names (CallbackFailureRate, ...), the same in every stack
            assert mf.PREFIX_TOKEN in entry["name"], f"{section}[{key}] name {entry['name']!r} ignores name_prefix"


def test_rendered_manifest_gives_each_resources_properties(deployed_stack, rendered):
    """Rebuild each resource's properties() from the rendered manifest, as Terraform would create it, and
    compare them with what the deployer plans for the same target (``Drivers.desired``: tags included)."""
    ctx = deployed_stack.ctx
    drivers = Drivers(Target(endpoint_url="http://127.0.0.1:1"), ctx, zip_bytes=b"")
    for r in deployed_stack.resources:
        want = drivers.desired(r)
        e = rendered[mf.SECTIONS[r.kind]][r.name]
        if isinstance(r, Table):
            types = {a["name"]: a["type"] for a in e["attributes"]}
            got = {
                "partitionKey": [e["hash_key"], types[e["hash_key"]]],
                "sortKey": [e["range_key"], types[e["range_key"]]] if e["range_key"] else None,
                "gsis": sorted([g["name"], [g["hash_key"], types[g["hash_key"]]],
                                [g["range_key"], types[g["range_key"]]] if g["range_key"] else None] for g in e["gsis"]),
                "ttlAttribute": e["ttl_attribute"],
            }
            assert e["name"] == r.name
        elif isinstance(r, Queue):
            dlq = rendered["queues"][e["dlq"]]["name"] if e["dlq"] else None
            got = {"visibilityTimeout": e["visibility_timeout"], "dlqArn": ctx.queue_arn(dlq) if dlq else None,
                   "maxReceiveCount": e["max_receive_count"]}
        elif isinstance(r, Role):
            got = {"trust": Role(e["name"], e["service"]).trust_policy(),
                   "policy": e["policy"] or policy_document(())}
        elif isinstance(r, Function):
            role = rendered["roles"][e["role"]]
            got = {"handler": e["handler"], "runtime": e["runtime"], "timeout": e["timeout"], "memory": e["memory"],
                   "environment": e["environment"], "role": ctx.role_arn(role["name"]),
                   "codeSha256": want["codeSha256"]}  # Terraform uploads build/lambda.zip: not in the manifest
            assert rendered["log_groups"][e["log_group"]]["name"] == f"/aws/lambda/{r.name}"
        elif isinstance(r, FunctionUrl):
            got = {"functionArn": ctx.function_arn(rendered["functions"][e["function"]]["name"]),
                   "authType": e["auth_type"]}
        elif isinstance(r, EventSourceMapping):
            got = {"functionArn": ctx.function_arn(rendered["functions"][e["function"]]["name"]),
                   "queueArn": ctx.queue_arn(rendered["queues"][e["queue"]]["name"]),
                   "batchSize": e["batch_size"], "reportBatchItemFailures": e["report_batch_item_failures"]}
        elif isinstance(r, ScheduleGroup):
            got = {}
            assert e["name"] == r.name
        elif isinstance(r, Schedule):
            got = {"expression": e["expression"],
                   "targetArn": ctx.function_arn(rendered["functions"][e["function"]]["name"]),
                   "roleArn": ctx.role_arn(rendered["roles"][e["role"]]["name"]), "input": e["input"],
                   "state": "ENABLED"}
            assert rendered["schedule_groups"][e["group"]]["name"] == r.group and e["name"] == r.schedule
        elif isinstance(r, LogGroup):
            got = {"retentionDays": e["retention_days"]}
        elif isinstance(r, Bucket):
            got = {"publicAccessBlocked": e["public_access_blocked"]}
            assert e["name"] == r.name
        elif isinstance(r, StateMachine):
            if e["definition_file"] is not None:
                text = (Path(mf.__file__).resolve().parents[2] / e["definition_file"]).read_text()
                definition = json.loads(mf.render_template(text, e["substitutions"]))
            else:
                definition = json.loads(e["definition"])
            got = {"definition": definition, "role": ctx.role_arn(rendered["roles"][e["role"]]["name"])}
        elif isinstance(r, Topic):
            got = {}
            assert e["name"] == r.name
        elif isinstance(r, Alarm):
            got = _alarm_properties(e, rendered, ctx)
            assert e["name"] == r.name
        elif isinstance(r, Dashboard):
            got = {"body": json.loads(e["body"])}
            assert e["name"] == r.name
        else:  # pragma: no cover - the first test keeps this unreachable
            raise AssertionError(f"unchecked kind {r.kind}")
        if "policy" in got and not want["policy"]["Statement"]:
            got["policy"] = want["policy"]
        if r.kind in TAGGED_KINDS:  # main.tf: tags = merge(var.tags, local.stack.tags) on these kinds
            got["tags"] = rendered["tags"]
        assert got == want, f"{r.kind} {r.name}"


def _alarm_properties(e, rendered, ctx):
    """What aws_cloudwatch_metric_alarm creates from a manifest entry, in the shape of Alarm.properties()."""
    topic = ctx.topic_arn(rendered["topics"][e["topic"]]["name"])
    queries = []
    for q in e["queries"]:
        if q["expression"] is not None:
            queries.append({"id": q["id"], "expression": q["expression"], "label": q["label"],
                            "returnData": q["return_data"]})
        else:
            queries.append({"id": q["id"], "namespace": q["namespace"], "metricName": q["metric_name"],
                            "dimensions": q["dimensions"], "stat": q["stat"], "period": q["period"],
                            "returnData": q["return_data"]})
    return {
        "description": e["description"], "comparison": e["comparison"], "threshold": e["threshold"],
        "evaluationPeriods": e["evaluation_periods"], "datapointsToAlarm": e["datapoints_to_alarm"],
        "treatMissingData": e["treat_missing_data"], "alarmActions": [topic], "okActions": [topic],
        "metric": None if queries else {"namespace": e["namespace"], "metricName": e["metric_name"],
                                        "dimensions": e["dimensions"], "statistic": e["statistic"],
                                        "period": e["period"]},
        "queries": sorted(queries, key=lambda q: q["id"]) or None,
    }


def test_local_alarms_have_10_second_periods_and_aws_alarms_seed_004s(target, rendered):
    alarms = rendered["alarms"]
    periods = {name: {q["period"] for q in a["queries"] if q["period"]} | ({a["period"]} if a["period"] else set())
               for name, a in alarms.items()}
    if target == "local":
        assert set().union(*periods.values()) == {10}
    else:
        assert periods["CallbackFailureRate"] == {300} and periods["StepFunctionTimeouts"] == {3600}
    assert {"CallbackFailureRate", "StepFunctionTimeouts", "PollerErrors", "TokenPastPollingTimeout",
            "DeadLetterQueueNotEmpty-poc-export-jobs-dlq", "DeadLetterQueueNotEmpty-poc-approval-requests-dlq"} \
        == set(alarms)
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:poc-alerts"
    assert all(rendered["topics"][a["topic"]]["name"] == "poc-alerts" for a in alarms.values()), topic_arn
    widgets = json.loads(rendered["dashboards"]["poc-callbacks"]["body"])["widgets"]
    assert {w["properties"]["title"] for w in widgets} >= {"Alarms", "Callbacks sent and failed", "Waiting tokens"}
    assert all(w["properties"].get("region", REGION) == REGION for w in widgets)


def test_local_manifest_carries_the_local_settings_and_aws_does_not(target, rendered):
    """What a local target needs comes from the spec through the manifest, not from a list of its own."""
    consumer = rendered["functions"]["poc-export-consumer"]["environment"]
    sweep = rendered["schedules"]["poc-sweep/poc-sweep"]["expression"]
    export = json.loads(rendered["state_machines"]["poc-export-workflow"]["definition"])
    heartbeat = export["States"]["StartExportJob"]["HeartbeatSeconds"]
    local = {f["environment"].get("SFN_CALLBACK_LOCAL") for f in rendered["functions"].values()}
    if target == "local":
        assert local == {"1"} and sweep == "rate(1 second)" and heartbeat == 10
        assert consumer["EXPORT_HEARTBEAT_INTERVAL_SECONDS"] == "1"
    else:
        assert local == {None} and sweep == "rate(1 minute)" and heartbeat == 120
        assert consumer["EXPORT_HEARTBEAT_INTERVAL_SECONDS"] == "30"


def test_a_different_prefix_renames_every_name_and_reference(manifest_text):
    doc = mf.render(manifest_text, account_id=ACCOUNT, region=REGION, name_prefix="acme")
    text = json.dumps({k: v for k, v in doc.items() if k in mf.SECTIONS.values()})
    values = re.findall(r'"(?:name|[A-Z_]+)": "([^"]*)"', text)
    assert not [v for v in values if re.search(r"(?<![A-Za-z0-9_.-])poc-", v)]
    assert doc["functions"]["poc-create-job"]["environment"]["TOKENS_TABLE"] == "acme-task-tokens"


def test_file_based_state_machines_use_the_package_asl_files_with_only_known_placeholders(stack):
    doc = mf.build_manifest(stack)
    file_based = {k: e for k, e in doc["state_machines"].items() if e["definition_file"]}
    assert "poc-callback-workflow" in file_based  # the seed workflow is the ASL file itself
    for key, e in doc["state_machines"].items():
        sm = next(r for r in stack.resources if r.kind == "state-machine" and r.name == key)
        if not e["definition_file"]:
            assert e["definition"] is not None
            continue
        assert e["definition_file"] == "/".join([*sm.definition_package.split("."), sm.definition_file])
        text = resources.files(sm.definition_package).joinpath(sm.definition_file).read_text()
        placeholders = set(re.findall(r"\$\{([^}]*)\}", text))
        assert placeholders == set(e["substitutions"]), key
        assert "%{" not in text and "$${" not in text, f"{key}: templatefile would read these as template syntax"
        # Names outside placeholders would not follow name_prefix.
        strings = _strings(json.loads(text), skip_keys={"Comment"})
        assert not [s for s in strings if re.search(r"(?<![A-Za-z0-9_.-])poc-", s)], key


def _strings(doc, skip_keys):
    if isinstance(doc, dict):
        return [s for k, v in doc.items() if k not in skip_keys for s in _strings(v, skip_keys)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v, skip_keys)]
    return [doc] if isinstance(doc, str) else []


def test_render_template_behaves_like_templatefile():
    assert mf.render_template('{"A": "${X}", "B": "$.y"}', {"X": "arn:1"}) == '{"A": "arn:1", "B": "$.y"}'
    with pytest.raises(mf.ManifestError):
        mf.render_template("${Missing}", {})


def test_unknown_kind_and_dangling_reference_fail(stack):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Widget:
        name: str
        kind = "widget"

    broken = build_stack(mf.terraform_context(), modules=())
    broken.resources.append(Widget("poc-widget"))
    with pytest.raises(mf.ManifestError, match="widget"):
        mf.build_manifest(broken)
    dangling = build_stack(mf.terraform_context(), modules=())
    dangling.add(EventSourceMapping("poc-nope", "poc-missing-queue"))
    with pytest.raises(mf.ManifestError, match="no such entry"):
        mf.build_manifest(dangling)


# --------------------------------------------------------------------------- HCL <-> manifest
def _fields_used(body_text: str, var: str = "each.value") -> set[str]:
    """Fields read as ``each.value.<f>`` (or the given variable), or ``<x>.<f>`` in a ``for x`` expression."""
    pattern = re.escape(var) + r"\.([a-z_]+)"
    if var == "each.value":
        pattern = r"(?:each\.value|(?<![\w.])[a-z])\.([a-z_]+)"
    return set(re.findall(pattern, body_text))


def test_terraform_reads_the_manifest_with_the_same_tokens(tf_files):
    main = tf_files["main.tf"]
    for token in (mf.PREFIX_TOKEN, mf.ACCOUNT_TOKEN, mf.REGION_TOKEN):
        assert f'"{token}"' in main
    assert "var.name_prefix" in main and "data.aws_caller_identity.current.account_id" in main
    assert 'file("${local.build_dir}/stack.json")' in main


def test_each_section_is_realised_by_its_resources_and_every_field_is_used(tf, stack):
    doc = mf.build_manifest(stack)
    res = tf_resources(tf)
    types_in_tf = {t for t, _ in res}
    assert types_in_tf == {t for ts in TERRAFORM_TYPES.values() for t in ts}, "unexpected or missing resource types"
    for section, types in TERRAFORM_TYPES.items():
        bodies = [json.dumps(body) for (t, _), body in res.items() if t in types]
        assert bodies, section
        joined = " ".join(bodies)
        assert f"local.stack.{section}" in joined or (section == "queues" and "local.plain_queues" in joined), section
        entries = list(doc[section].values())
        fields = set().union(*(e.keys() for e in entries)) if entries else set()
        used = _fields_used(joined)
        # Fields read through another name: a table's GSI list and attributes are iterated in dynamic blocks.
        assert used <= fields | {"value"}, f"{section}: HCL reads fields the manifest lacks: {used - fields}"
        unused = fields - used
        if section == "functions":
            unused -= {"log_group"}  # realised as depends_on the log groups
            assert "aws_cloudwatch_log_group.this" in joined
        if section == "queues":
            unused -= {"dlq"} if "local.redriven_queues" in joined else set()
        if section == "state_machines":
            assert "templatefile(" in joined and "local.source_dir" in joined
        assert not unused, f"{section}: manifest fields Terraform ignores: {unused}"


def test_terraform_tags_exactly_the_kinds_the_deployer_tags(tf, tf_files):
    """The first resource type of each section is the taggable one; the deployer compares the stack's tags."""
    res = tf_resources(tf)
    assert re.search(r"tags\s*=\s*merge\(var\.tags,\s*local\.stack\.tags\)", tf_files["main.tf"])
    for kind, section in mf.SECTIONS.items():
        main_type = TERRAFORM_TYPES[section][0]
        bodies = {name: body for (t, name), body in res.items() if t == main_type}
        for name, body in bodies.items():
            if kind in TAGGED_KINDS:
                assert "${local.tags}" in json.dumps(body.get("tags")), f"{main_type}.{name} is not tagged"
            else:
                assert "tags" not in body, f"{main_type}.{name} is tagged; the deployer does not tag {kind}"


def test_gsi_and_attribute_fields_are_consumed(tf, stack):
    body = json.dumps(tf_resources(tf)[("aws_dynamodb_table", "this")])
    assert {"name", "hash_key", "range_key"} <= _fields_used(body, "global_secondary_index.value")
    assert {"name", "type"} <= _fields_used(body, "attribute.value")


def test_outputs_cover_seed_000_and_name_existing_stack_keys(tf, stack):
    doc = mf.build_manifest(stack)
    outputs = {name: body for block in tf["output"] for name, body in block.items()}
    seed = {"state_machine_arn", "state_machine_name", "tokens_table_name", "jobs_table_name",
            "scheduler_group_name", "create_job_lambda", "poller_lambda", "simulated_api_lambda"}
    assert seed <= set(outputs)
    sections = {"aws_sfn_state_machine": "state_machines", "aws_dynamodb_table": "tables",
                "aws_scheduler_schedule_group": "schedule_groups", "aws_lambda_function": "functions"}
    for name in seed:
        text = json.dumps(outputs[name]["value"])
        rtype, key = re.search(r'(aws_[a-z_]+)\.this\[\\"([^\\]+)\\"\]', text).groups()
        assert key in doc[sections[rtype]], f"output {name} names {key}, not in the stack"


def test_variables_of_the_module(tf):
    names = {name for block in tf["variable"] for name in block}
    assert {"region", "name_prefix", "polling_interval_minutes", "function_timeouts", "build_dir"} <= names


# ------------------------------------------------------------------------------ terraform binary
def _terraform() -> str | None:
    return terraform_binary()


@pytest.mark.skipif(_terraform() is None, reason="no terraform or tofu binary on PATH (not in Debian or PyPI here)")
def test_terraform_fmt_check():
    proc = subprocess.run([_terraform(), "fmt", "-check", "-recursive", str(TF_DIR)], capture_output=True,
                          text=True, env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull}, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _provider_mirror() -> str | None:
    return provider_mirror()


@pytest.mark.skipif(_terraform() is None or _provider_mirror() is None,
                    reason="terraform validate needs the AWS provider; none on PATH or in a local plugin dir "
                           "(the Terraform registry is not reachable offline)")
def test_terraform_validate(tmp_path):
    work = tmp_path / "tf"
    shutil.copytree(TF_DIR, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    init = subprocess.run([_terraform(), "init", "-backend=false", "-input=false", f"-plugin-dir={_provider_mirror()}"],
                          cwd=work, capture_output=True, text=True, env=env, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    proc = subprocess.run([_terraform(), "validate", "-json"], cwd=work, capture_output=True, text=True, env=env,
                          timeout=120)
    result = json.loads(proc.stdout)
    assert result["valid"], result["diagnostics"]


# ---------------------------------------------------------------------------- tf-endpoints override
def test_tf_endpoints_points_every_service_of_the_stack_at_the_endpoint(tmp_path):
    from sfn_callback.deploy import terraform as tfo
    from sfn_callback.deploy.spec import KIND_ORDER

    out = tmp_path / "local_override.tf"
    proc = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "--endpoint", "http://127.0.0.1:4599",
                           "tf-endpoints", "--out", str(out), "--max-retries", "2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    provider = _unquote(hcl2.loads(out.read_text()))["provider"][0]["aws"]
    endpoints = {k: v.strip('"') for k, v in provider["endpoints"][0].items() if not k.startswith("__")}
    assert set(endpoints) == {tfo.SERVICES_BY_KIND[k] for k in KIND_ORDER} | {"sts", "secretsmanager", "ssm"}
    assert set(endpoints.values()) == {"http://127.0.0.1:4599"}
    assert provider["max_retries"] == 2 and provider["s3_use_path_style"] is True
    assert provider["skip_credentials_validation"] and provider["skip_requesting_account_id"]
    with pytest.raises(tfo.OverrideError, match="resource kind"):
        tfo.endpoint_services(("widget",))
    aws = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "--endpoint", "aws", "tf-endpoints"],
                         capture_output=True, text=True, timeout=60)
    assert aws.returncode == 2 and "for AWS use the module as it is" in aws.stderr
    if _terraform():
        fmt = subprocess.run([_terraform(), "fmt", "-check", str(out)], capture_output=True, text=True,
                             env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull}, timeout=60)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
