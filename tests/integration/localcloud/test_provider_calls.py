"""The calls the AWS provider for Terraform makes, answered by the local cloud as AWS answers them.

``ValidateStateMachineDefinition`` (really validating, AWS's diagnostics), ``ListStateMachineVersions``,
compact JSON queue attributes, and ``ListEventSourceMappings`` by function name, ARN or partial ARN: over
real HTTP with boto3, on the session's local cloud.
"""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from sfn_callback.config import LOCAL_ACCOUNT_ID
from sfn_callback.deploy.spec import StackContext
from sfn_callback.deploy.stack import build_stack

pytestmark = pytest.mark.cloud

LAMBDA = "arn:aws:states:::lambda:invoke"


def machine(states, start="A", **extra):
    return json.dumps({"StartAt": start, "States": states, **extra})


def codes(result):
    return [(d["code"], d.get("location")) for d in result["diagnostics"]]


# ----------------------------------------------------------------------- ValidateStateMachineDefinition
def test_every_workflow_of_the_stack_validates(local_cloud):
    sfn = local_cloud.client("stepfunctions")
    machines = [r for r in build_stack(StackContext(LOCAL_ACCOUNT_ID, "us-east-1", local=True)).resources
                if r.kind == "state-machine"]
    assert len(machines) >= 4
    for sm in machines:
        result = sfn.validate_state_machine_definition(definition=json.dumps(sm.definition()), type="STANDARD")
        assert (result["result"], result["diagnostics"], result["truncated"]) == ("OK", [], False), sm.name


@pytest.mark.parametrize(("definition", "expected"), [
    (machine({"A": {"Type": "Pass", "Next": "B"}, "C": {"Type": "Succeed"}}),
     [("MISSING_TRANSITION_TARGET", "/States/A/Next")]),
    (machine({"A": {"Type": "Pass", "End": True}}, start="Z"), [("MISSING_TRANSITION_TARGET", "/StartAt")]),
    (machine({"A": {"Type": "Pass"}, "B": {"Type": "Succeed"}}), [("SCHEMA_VALIDATION_FAILED", "/States/A")]),
    (machine({"A": {"Type": "Pass", "End": True, "Bogus": 1}}), [("SCHEMA_VALIDATION_FAILED", "/States/A/Bogus")]),
    (machine({"A": {"Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": "x", "End": True}}),
     [("SCHEMA_VALIDATION_FAILED", "/States/A/TimeoutSeconds")]),
    (machine({"A": {"Type": "Task", "Resource": "not-an-arn", "End": True}}), [("INVALID_RESOURCE", "/States/A/Resource")]),
    (machine({"A": {"Type": "Pass", "Next": "A"}}), [("MISSING_END_STATE", "/States")]),
    (machine({"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Nowhere"}],
                    "Default": "B"}, "B": {"Type": "Succeed"}}),
     [("MISSING_TRANSITION_TARGET", "/States/A/Choices/0/Next")]),
    (machine({"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}},
        {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}]}}, start="P"),
     [("DUPLICATE_STATE_NAME", "/States/P/Branches/1/States/X"),
      ("MISSING_TRANSITION_TARGET", "/States/P/Branches/1/States/X/Next"),
      ("MISSING_END_STATE", "/States/P/Branches/1/States")]),
    ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "A": {"Type": "Succeed"}}}',
     [("DUPLICATE_STATE_NAME", "/States/A")]),
    (json.dumps({"StartAt": "A"}), [("SCHEMA_VALIDATION_FAILED", "/")]),
    ('{"StartAt": "A", "States": ', [("INVALID_JSON_DESCRIPTION", None)]),
], ids=["next", "start-at", "no-next-or-end", "unknown-field", "wrong-type", "resource", "no-terminal", "choice",
        "nested", "duplicate", "no-states", "json"])
def test_invalid_definitions_fail_with_aws_diagnostics(local_cloud, definition, expected):
    result = local_cloud.client("stepfunctions").validate_state_machine_definition(definition=definition)
    assert result["result"] == "FAIL"
    assert codes(result) == expected
    for diagnostic in result["diagnostics"]:
        assert diagnostic["severity"] == "ERROR" and diagnostic["message"]
        if diagnostic.get("location"):
            assert diagnostic["message"].endswith(f"at {diagnostic['location']}")


def test_warnings_on_request_truncation_and_express(local_cloud):
    sfn = local_cloud.client("stepfunctions")
    looks_like_path = machine({"A": {"Type": "Task", "Resource": LAMBDA, "End": True,
                                     "Parameters": {"Payload": "$.input", "FunctionName": "f"}}})
    assert sfn.validate_state_machine_definition(definition=looks_like_path)["diagnostics"] == []
    warned = sfn.validate_state_machine_definition(definition=looks_like_path, severity="WARNING")
    assert warned["result"] == "OK"
    assert [(d["severity"], d["code"], d["location"]) for d in warned["diagnostics"]] == \
        [("WARNING", "NO_DOLLAR", "/States/A/Parameters/Payload")]
    many = machine({f"S{i}": {"Type": "Pass", "Next": f"Missing{i}"} for i in range(5)}, start="S0")
    page = sfn.validate_state_machine_definition(definition=many, maxResults=2)
    assert page["result"] == "FAIL" and len(page["diagnostics"]) == 2 and page["truncated"] is True
    callback = machine({"A": {"Type": "Task", "Resource": LAMBDA + ".waitForTaskToken", "End": True,
                              "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}}}})
    assert sfn.validate_state_machine_definition(definition=callback, type="STANDARD")["result"] == "OK"
    express = sfn.validate_state_machine_definition(definition=callback, type="EXPRESS")
    assert codes(express) == [("SCHEMA_VALIDATION_FAILED", "/States/A/Resource")]
    with pytest.raises(ClientError) as err:
        sfn.validate_state_machine_definition(definition=callback, severity="FATAL")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_create_and_update_refuse_what_validation_fails(local_cloud):
    sfn = local_cloud.client("stepfunctions")
    role = local_cloud.role_arn()
    name = f"pc-refused-{uuid.uuid4().hex[:8]}"
    broken = machine({"A": {"Type": "Pass", "Next": "B"}, "C": {"Type": "Succeed"}})
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=name, definition=broken, roleArn=role)
    assert err.value.response["Error"]["Code"] == "InvalidDefinition"
    assert "MISSING_TRANSITION_TARGET" in err.value.response["Error"]["Message"]
    arn = sfn.create_state_machine(name=name, definition=machine({"A": {"Type": "Succeed"}}), roleArn=role)[
        "stateMachineArn"]
    try:
        with pytest.raises(ClientError) as err:
            sfn.update_state_machine(stateMachineArn=arn, definition=broken)
        assert err.value.response["Error"]["Code"] == "InvalidDefinition"
        assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])["States"] == \
            {"A": {"Type": "Succeed"}}
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)


# ------------------------------------------------------------------------------ ListStateMachineVersions
def test_list_state_machine_versions_newest_first(local_cloud):
    sfn = local_cloud.client("stepfunctions")
    name = f"pc-versions-{uuid.uuid4().hex[:8]}"
    arn = sfn.create_state_machine(name=name, definition=machine({"A": {"Type": "Succeed"}}),
                                   roleArn=local_cloud.role_arn())["stateMachineArn"]
    try:
        assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
        first = sfn.update_state_machine(stateMachineArn=arn, definition=machine({"B": {"Type": "Succeed"}}, "B"),
                                         publish=True)["stateMachineVersionArn"]
        second = sfn.update_state_machine(stateMachineArn=arn, definition=machine({"C": {"Type": "Succeed"}}, "C"),
                                          publish=True)["stateMachineVersionArn"]
        listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
        assert [v["stateMachineVersionArn"] for v in listed] == [second, first] == [f"{arn}:2", f"{arn}:1"]
        assert all(v["creationDate"] for v in listed)
        page = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1)
        assert [v["stateMachineVersionArn"] for v in page["stateMachineVersions"]] == [second]
        rest = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1, nextToken=page["nextToken"])
        assert [v["stateMachineVersionArn"] for v in rest["stateMachineVersions"]] == [first]
        assert "nextToken" not in rest
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as err:
        sfn.list_state_machine_versions(stateMachineArn=arn)
    assert err.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


# ----------------------------------------------------------------------------------------- SQS attributes
def test_json_queue_attributes_are_compact_as_on_aws(local_cloud):
    sqs = local_cloud.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq = sqs.create_queue(QueueName=f"pc-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
         "Resource": "*"}]}
    url = sqs.create_queue(QueueName=f"pc-main-{suffix}", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "4"}),
        "Policy": json.dumps(policy, indent=2)})["QueueUrl"]
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["RedrivePolicy"] == f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":4}}'
        assert attrs["Policy"] == json.dumps(policy, separators=(",", ":"))
        one = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
        assert one == {"RedrivePolicy": attrs["RedrivePolicy"]}
    finally:
        sqs.delete_queue(QueueUrl=url)
        sqs.delete_queue(QueueUrl=dlq)


# ------------------------------------------------------------------------------ ListEventSourceMappings
def test_event_source_mappings_are_listed_by_name_arn_or_partial_arn(local_cloud, make_function):
    lam, sqs = local_cloud.client("lambda"), local_cloud.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    fn_arn = make_function(f"pc-esm-{suffix}", "def handler(event, context):\n    return {}\n")
    other_arn = make_function(f"pc-esm-other-{suffix}", "def handler(event, context):\n    return {}\n")
    url = sqs.create_queue(QueueName=f"pc-esm-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(FunctionName=fn_arn, EventSourceArn=queue_arn, Enabled=False)
    try:
        name = fn_arn.rsplit(":", 1)[1]
        partial = f"{LOCAL_ACCOUNT_ID}:function:{name}"
        for how in (name, fn_arn, partial):
            listed = lam.list_event_source_mappings(FunctionName=how)["EventSourceMappings"]
            assert [m["UUID"] for m in listed] == [mapping["UUID"]], how
        both = lam.list_event_source_mappings(FunctionName=name, EventSourceArn=queue_arn)["EventSourceMappings"]
        assert [m["UUID"] for m in both] == [mapping["UUID"]]
        for other in (other_arn, other_arn.rsplit(":", 1)[1], f"{name}:live", f"111122223333:function:{name}"):
            assert lam.list_event_source_mappings(FunctionName=other)["EventSourceMappings"] == [], other
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
        sqs.delete_queue(QueueUrl=url)
