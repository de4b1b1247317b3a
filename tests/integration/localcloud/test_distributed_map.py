"""A Distributed Map on the local cloud behaves as on AWS: each item is a child workflow execution with its own
history (listed by ``ListExecutions(mapRunArn=...)``), a ``.waitForTaskToken`` task inside one waits for its
callback, and failed items beyond ``ToleratedFailurePercentage`` fail the Map with
``States.ExceedToleratedFailureThreshold``."""

from __future__ import annotations

import json
import uuid

import pytest

from support import wait_execution, wait_for

pytestmark = pytest.mark.cloud

PARK = '''
import os, boto3

def handler(event, context):
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"], Item={
        "pk": {"S": event["key"]}, "token": {"S": event["token"]}, "executionId": {"S": event["executionId"]}})
    return {"parked": True}
'''


def _definition(fn_arn: str) -> dict:
    return {
        "StartAt": "Items",
        "States": {
            "Items": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 4, "Label": "items",
                "ToleratedFailurePercentagePath": "$.tolerated",
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Kind",
                    "States": {
                        "Kind": {"Type": "Choice", "Choices": [
                            {"Variable": "$.item.kind", "StringEquals": "fail", "Next": "Broken"}],
                            "Default": "Park"},
                        "Broken": {"Type": "Fail", "Error": "ItemBroken", "Cause": "asked to fail"},
                        "Park": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                                 "Parameters": {"FunctionName": fn_arn, "Payload": {
                                     "key.$": "$.item.key", "token.$": "$$.Task.Token",
                                     "executionId.$": "$$.Execution.Id"}},
                                 "TimeoutSeconds": 60, "ResultPath": "$.answer", "End": True},
                    },
                },
                "ResultPath": "$.results",
                "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "ResultPath": "$.error",
                           "Next": "TooMany"}],
                "Next": "Tally",
            },
            "Tally": {"Type": "Pass", "Parameters": {
                "parked.$": "$.results[?(@.answer)]",
                "none.$": "$.results[?(@.item.kind == 'nothing-has-this')]"}, "End": True},
            "TooMany": {"Type": "Pass", "Parameters": {"error.$": "$.error.Error"}, "End": True},
        },
    }


@pytest.fixture(scope="module")
def machine(local_cloud, make_function):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-map-tokens", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    fn_arn = make_function("lc-map-park", PARK, env={"TABLE": "lc-map-tokens"})
    sfn = local_cloud.client("stepfunctions")
    return sfn.create_state_machine(name="lc-distributed-map", definition=json.dumps(_definition(fn_arn)),
                                    roleArn=local_cloud.role_arn())["stateMachineArn"]


def _start(local_cloud, machine, items, tolerated):
    sfn = local_cloud.client("stepfunctions")
    return sfn.start_execution(stateMachineArn=machine, name=f"map-{uuid.uuid4().hex[:8]}",
                               input=json.dumps({"items": items, "tolerated": tolerated}))["executionArn"]


def test_items_are_child_executions_and_wait_for_their_callbacks(local_cloud, machine):
    sfn, ddb = local_cloud.client("stepfunctions"), local_cloud.client("dynamodb")
    run = uuid.uuid4().hex[:6]
    items = [{"kind": "park", "key": f"{run}-a"}, {"kind": "fail"}, {"kind": "park", "key": f"{run}-b"},
             {"kind": "fail"}]
    arn = _start(local_cloud, machine, items, 50)  # 2 of 4 failed is 50 %: tolerated
    parked = {}
    for key in (f"{run}-a", f"{run}-b"):
        parked[key] = wait_for(lambda k=key: ddb.get_item(TableName="lc-map-tokens",
                                                          Key={"pk": {"S": k}}).get("Item"), what=key)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    for key, item in parked.items():
        sfn.send_task_success(taskToken=item["token"]["S"], output=json.dumps({"key": key}))
    done = wait_execution(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert sorted(r["answer"]["key"] for r in output["parked"]) == sorted(parked)
    assert output["none"] == []  # a filter that matches nothing is an empty array, as on AWS

    (map_run,) = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    described = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])
    assert described["status"] == "SUCCEEDED" and described["toleratedFailurePercentage"] == 50
    children = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]
    assert len(children) == 4
    assert sorted(c["status"] for c in children) == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    for child in children:
        assert child["executionArn"].startswith(arn.split(":execution:")[0] + ":execution:lc-distributed-map/items:")
        events = sfn.get_execution_history(executionArn=child["executionArn"])["events"]
        assert events[0]["type"] == "ExecutionStarted"
        started = json.loads(events[0]["executionStartedEventDetails"]["input"])
        if child["status"] == "SUCCEEDED":
            key = started["item"]["key"]
            # $$.Execution.Id inside the child is the child's own ARN; its task got the callback.
            assert parked[key]["executionId"]["S"] == child["executionArn"]
            assert [e["type"] for e in events].count("TaskSucceeded") == 1
            assert events[-1]["type"] == "ExecutionSucceeded"
            assert json.loads(sfn.describe_execution(executionArn=child["executionArn"])["output"])["answer"] == \
                {"key": key}
        else:
            assert started["item"]["kind"] == "fail"
            assert events[-1]["type"] == "ExecutionFailed"
            assert events[-1]["executionFailedEventDetails"]["error"] == "ItemBroken"
            assert sfn.describe_execution(executionArn=child["executionArn"])["error"] == "ItemBroken"


def test_failures_beyond_the_tolerated_percentage_fail_the_map(local_cloud, machine):
    sfn = local_cloud.client("stepfunctions")
    arn = _start(local_cloud, machine, [{"kind": "fail"}, {"kind": "fail"}, {"kind": "fail"}], 50)
    done = wait_execution(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"error": "States.ExceedToleratedFailureThreshold"}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
    assert "MapRunFailed" in types and "MapRunSucceeded" not in types
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.list_executions(mapRunArn=arn.replace(":execution:", ":mapRun:") + "/none:none")
