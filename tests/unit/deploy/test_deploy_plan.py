"""Plan/diff logic, stack spec and zip determinism, without a cloud; the deployer on in-process moto."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from sfn_callback import config
from sfn_callback.deploy import packaging
from sfn_callback.deploy.plan import CREATE, DELETE, UNCHANGED, UPDATE, compute_plan
from sfn_callback.deploy.spec import Function, Key, StackContext, Table, substitute
from sfn_callback.deploy.stack import build_stack

LOCAL = StackContext("000000000000", "us-east-1", local=True)
AWS = StackContext("123456789012", "eu-west-1", local=False)


def test_plan_create_update_unchanged_delete():
    desired = [("table", "a", {"ttl": "ttl"}), ("table", "b", {"ttl": None, "x": 1}), ("function", "f", {"m": 256})]
    current = {("table", "a"): None, ("table", "b"): {"ttl": "other", "x": 1}, ("function", "f"): {"m": 128}}
    plan = compute_plan(desired, current, {("table", "b"), ("function", "gone")})
    actions = [(c.action, c.kind, c.name, c.differences) for c in plan.changes]
    assert actions == [
        (CREATE, "table", "a", ()),
        (UNCHANGED, "table", "b", ()),  # None in desired: not managed
        (UPDATE, "function", "f", ("m",)),
        (DELETE, "function", "gone", ()),
    ]
    assert plan.has_changes and plan.summary() == {CREATE: 1, UPDATE: 1, UNCHANGED: 1, DELETE: 1}


def test_plan_with_everything_in_place_has_no_changes():
    desired = [("table", "a", {"k": [1, 2]})]
    plan = compute_plan(desired, {("table", "a"): {"k": [1, 2], "extra": True}}, {("table", "a")})
    assert not plan.has_changes and plan.to_dict()["summary"][UNCHANGED] == 1


def test_poc_stack_has_the_seed_resources_in_dependency_order():
    stack = build_stack(LOCAL)
    names = {(r.kind, r.name) for r in stack.resources}
    for kind, name in [("table", config.TOKENS_TABLE), ("table", config.JOBS_TABLE),
                       ("function", config.SIMULATED_API_FUNCTION), ("function", config.CREATE_JOB_FUNCTION),
                       ("function", config.POLLER_FUNCTION), ("state-machine", config.CALLBACK_WORKFLOW),
                       ("schedule-group", config.POLLING_SCHEDULE_GROUP), ("role", "poc-poller-role")]:
        assert (kind, name) in names
    kinds = [r.kind for r in stack.ordered()]
    assert kinds.index("role") < kinds.index("function") < kinds.index("state-machine")
    tokens = next(r for r in stack.resources if r.name == config.TOKENS_TABLE)
    assert tokens.ttl_attribute == "ttl" and tokens.gsis[0].name == "status-index"


def test_function_env_is_local_only_on_local_targets_and_arns_follow_the_context():
    local = {r.name: r for r in build_stack(LOCAL).resources if isinstance(r, Function)}
    aws = {r.name: r for r in build_stack(AWS).resources if isinstance(r, Function)}
    assert local["poc-poller"].environment(LOCAL)["SFN_CALLBACK_LOCAL"] == "1"
    assert "SFN_CALLBACK_LOCAL" not in aws["poc-poller"].environment(AWS)
    assert aws["poc-create-job"].environment(AWS)["POLLER_LAMBDA_ARN"] == \
        "arn:aws:lambda:eu-west-1:123456789012:function:poc-poller"


def test_roles_are_least_privilege_from_function_specs():
    stack = build_stack(LOCAL)
    poller_role = next(r for r in stack.resources if r.kind == "role" and r.name == "poc-poller-role")
    doc = poller_role.properties(LOCAL)["policy"]
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert "states:SendTaskSuccess" in actions and "scheduler:DeleteSchedule" in actions
    assert "scheduler:CreateSchedule" not in actions and "dynamodb:Scan" not in actions
    ddb = next(s for s in doc["Statement"] if "dynamodb:UpdateItem" in s["Action"])
    assert ddb["Resource"] == ["arn:aws:dynamodb:us-east-1:000000000000:table/poc-task-tokens"]


def test_state_machine_placeholder_substituted_on_the_parsed_json():
    sm = next(r for r in build_stack(LOCAL).resources if r.kind == "state-machine")
    definition = sm.definition()
    fn = definition["States"]["CreateJobAndWait"]["Parameters"]["FunctionName"]
    assert fn == "arn:aws:lambda:us-east-1:000000000000:function:poc-create-job"
    assert "${" not in json.dumps(definition)
    assert substitute({"a": ["x ${N} ${N}", 3]}, {"N": "v"}) == {"a": ["x v v", 3]}


def test_duplicate_resources_are_refused():
    stack = build_stack(LOCAL)
    with pytest.raises(ValueError, match="duplicate"):
        stack.add(Table(config.TOKENS_TABLE, Key("jobId")))


def test_zip_is_deterministic_and_excludes_caches(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "__init__.py").write_text("")
    (root / "sub" / "b.py").write_text("B = 1\n")
    (root / "sub" / "a.json").write_text("{}")
    (root / "sub" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"x")
    (root / "tests" / "test_x.py").write_text("")
    first = packaging.build_zip(root)
    os.utime(root / "sub" / "b.py", (1_000_000_000, 1_000_000_000))
    second = packaging.build_zip(root)
    assert first == second and packaging.code_sha256(first) == packaging.code_sha256(second)
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["pkg/__init__.py", "pkg/sub/a.json", "pkg/sub/b.py"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zipfile.ZipFile(io.BytesIO(first)).infolist())
    (root / "sub" / "b.py").write_text("B = 2\n")
    assert packaging.build_zip(root) != first


def test_real_package_zip_has_the_handlers_and_the_workflow():
    names = set(zipfile.ZipFile(io.BytesIO(packaging.build_zip())).namelist())
    assert {"sfn_callback/poc/entrypoints/poc_poller.py", "sfn_callback/poc/workflow.asl.json"} <= names
    assert not any("__pycache__" in n for n in names)


def test_deploy_twice_then_destroy_on_in_process_moto(monkeypatch):
    from moto import mock_aws

    from sfn_callback.config import Target
    from sfn_callback.deploy.deployer import Deployer, Drivers

    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        target = Target(endpoint_url=None)
        ctx = StackContext("123456789012", "us-east-1", local=True)
        stack = build_stack(ctx)
        zip_bytes = packaging.build_zip()
        first = Deployer(target, stack, Drivers(target, ctx, zip_bytes)).apply()
        assert first.plan.summary()[CREATE] == len(stack.resources)
        second = Deployer(target, stack, Drivers(target, ctx, zip_bytes)).plan()
        assert not second.has_changes, [c for c in second.changes if c.action != UNCHANGED]

        import boto3

        lam = boto3.client("lambda", region_name="us-east-1")
        lam.update_function_configuration(FunctionName="poc-poller", Timeout=3)
        # Tags are compared too, on the stack's own keys only: a lost stack tag is drift, another tag is not.
        from sfn_callback.deploy.spec import MANAGED_TAG

        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.get_queue_url(QueueName="poc-export-jobs")["QueueUrl"]
        sqs.untag_queue(QueueUrl=queue_url, TagKeys=[MANAGED_TAG])
        sqs.tag_queue(QueueUrl=queue_url, Tags={"team": "exports"})
        lam.tag_resource(Resource=ctx.function_arn("poc-create-job"), Tags={"team": "poc"})
        lam.update_function_url_config(FunctionName="poc-job-push", AuthType="AWS_IAM")  # the push URL's auth
        sch = boto3.client("scheduler", region_name="us-east-1")
        sch.create_schedule(Name="poll-job-x", GroupName="poc-polling", ScheduleExpression="rate(1 minute)",
                            FlexibleTimeWindow={"Mode": "OFF"},
                            Target={"Arn": ctx.function_arn("poc-poller"), "RoleArn": ctx.role_arn("r"), "Input": "{}"})
        drift = Deployer(target, stack, Drivers(target, ctx, zip_bytes)).plan()
        assert sorted((c.action, c.name, c.differences) for c in drift.changes if c.action != UNCHANGED) == \
            [(UPDATE, "poc-export-jobs", ("tags",)), (UPDATE, "poc-job-push", ("authType",)),
             (UPDATE, "poc-poller", ("timeout",))]
        Deployer(target, stack, Drivers(target, ctx, zip_bytes)).apply(drift)
        assert lam.get_function_configuration(FunctionName="poc-poller")["Timeout"] == 60
        assert lam.get_function_url_config(FunctionName="poc-job-push")["AuthType"] == "NONE"
        assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {MANAGED_TAG: ctx.stack_name, "team": "exports"}
        assert not Deployer(target, stack, Drivers(target, ctx, zip_bytes)).plan().has_changes

        removed = Deployer(target, stack, Drivers(target, ctx, zip_bytes)).destroy()
        assert len(removed) == len(stack.resources)
        assert sch.list_schedules()["Schedules"] == []
        assert lam.list_functions()["Functions"] == []
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_function_url_config(FunctionName="poc-job-push")
        after = Deployer(target, stack, Drivers(target, ctx, zip_bytes)).plan()
        assert after.summary()[CREATE] == len(stack.resources)


@pytest.fixture()
def applied_on_moto(monkeypatch):
    """The whole AWS stack applied on in-process moto: (deployer for a given stack, the full stack, its context)."""
    from moto import mock_aws

    from sfn_callback.config import Target
    from sfn_callback.deploy.deployer import Deployer, Drivers

    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        target = Target(endpoint_url=None)
        ctx = StackContext("123456789012", "us-east-1", local=False)
        full = build_stack(ctx)
        zip_bytes = packaging.build_zip()

        def deployer(stack):
            return Deployer(target, stack, Drivers(target, ctx, zip_bytes))

        deployer(full).apply()
        yield deployer, full, ctx


def test_resource_dropped_from_the_spec_is_planned_for_deletion(applied_on_moto):
    import boto3

    from sfn_callback.deploy.spec import Stack

    deployer, full, ctx = applied_on_moto
    smaller = Stack(ctx, [r for r in full.resources if r.name != "poc-jobs"])
    plan = deployer(smaller).plan()
    assert [(c.action, c.kind, c.name) for c in plan.changes if c.action != UNCHANGED] == \
        [(DELETE, "table", "poc-jobs")]
    deployer(smaller).apply(plan)
    assert "poc-jobs" not in boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]


def test_alarms_and_topics_dropped_from_the_spec_are_planned_for_deletion(applied_on_moto):
    """Alarms and topics carry the stack's tag like the other kinds, so removing one from the spec deletes it."""
    import boto3

    from sfn_callback.deploy.spec import Stack

    deployer, full, ctx = applied_on_moto
    alarm, topic = full.find("alarm")[0], full.find("topic")[0]
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    arn = cw.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"][0]["AlarmArn"]
    assert {"Key": "sfn-callback:stack", "Value": ctx.stack_name} in cw.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert deployer(full).plan().summary()["unchanged"] == len(full.resources)

    without_alarm = Stack(ctx, [r for r in full.resources if r is not alarm])
    plan = deployer(without_alarm).plan()
    assert [(c.action, c.kind, c.name) for c in plan.changes if c.action != UNCHANGED] == \
        [(DELETE, "alarm", alarm.name)]
    deployer(without_alarm).apply(plan)
    assert cw.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"] == []

    # A topic no alarm of the spec notifies any more.
    smaller = Stack(ctx, [r for r in without_alarm.resources
                          if r is not topic and not (r.kind == "alarm" and r.topic == topic.name)])
    plan = deployer(smaller).plan()
    deleted = {(c.kind, c.name) for c in plan.changes if c.action == DELETE}
    assert ("topic", topic.name) in deleted and all(kind in ("topic", "alarm") for kind, _ in deleted)
    deployer(smaller).apply(plan)
    topics = boto3.client("sns", region_name="us-east-1").list_topics()["Topics"]
    assert ctx.topic_arn(topic.name) not in [t["TopicArn"] for t in topics]
