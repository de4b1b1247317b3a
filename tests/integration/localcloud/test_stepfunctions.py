"""Step Functions on the local cloud calls the real handlers, including waitForTaskToken."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from support import wait_execution, wait_for

pytestmark = pytest.mark.cloud

APP = '''
import json, os, boto3

def handler(event, context):
    if "token" in event:
        # Park the token where the test can find it, as a callback-pattern Lambda does.
        boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"], Item={
            "pk": {"S": event["key"]}, "token": {"S": event["token"]}})
        return {"parked": True}
    return {"doubled": event["n"] * 2}
'''


@pytest.fixture(scope="module")
def fn_arn(local_cloud, make_function):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-tokens", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    return make_function("lc-sfn-task", APP, env={"TABLE": "lc-tokens"})


def create_machine(local_cloud, name, definition):
    sfn = local_cloud.client("stepfunctions")
    return sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                    roleArn=local_cloud.role_arn())["stateMachineArn"]


def test_lambda_invoke_task_runs_the_real_handler(local_cloud, fn_arn):
    arn = create_machine(local_cloud, "lc-invoke", {
        "StartAt": "Double",
        "States": {"Double": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                              "Parameters": {"FunctionName": fn_arn, "Payload": {"n.$": "$.n"}},
                              "OutputPath": "$.Payload", "End": True}},
    })
    sfn = local_cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=f"x-{uuid.uuid4()}", input=json.dumps({"n": 21}))
    done = wait_execution(sfn, execution["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"doubled": 42}


def test_wait_for_task_token_pauses_until_send_task_success(local_cloud, fn_arn):
    arn = create_machine(local_cloud, "lc-callback", {
        "StartAt": "Park",
        "States": {"Park": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                            "Parameters": {"FunctionName": fn_arn,
                                           "Payload": {"key.$": "$$.Execution.Name", "token.$": "$$.Task.Token"}},
                            "TimeoutSeconds": 60, "End": True}},
    })
    sfn = local_cloud.client("stepfunctions")
    ddb = local_cloud.client("dynamodb")
    name = f"cb-{uuid.uuid4()}"
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")
    item = wait_for(lambda: ddb.get_item(TableName="lc-tokens", Key={"pk": {"S": name}}).get("Item"))
    time.sleep(0.5)
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"
    sfn.send_task_success(taskToken=item["token"]["S"], output=json.dumps({"answer": 42}))
    done = wait_execution(sfn, execution["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"answer": 42}
    # The token is finished: a second callback is refused.
    with pytest.raises(sfn.exceptions.ClientError) as again:
        sfn.send_task_success(taskToken=item["token"]["S"], output="{}")
    assert again.value.response["Error"]["Code"] in {"InvalidToken", "TaskDoesNotExist", "TaskTimedOut"}


def test_task_failure_from_handler_error_reaches_catch(local_cloud, make_function):
    failing = make_function("lc-sfn-fail", "def handler(e, c):\n    raise RuntimeError('external job exploded')\n")
    arn = create_machine(local_cloud, "lc-catch", {
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                     "Parameters": {"FunctionName": failing, "Payload": {}},
                     "Catch": [{"ErrorEquals": ["RuntimeError"], "ResultPath": "$.error", "Next": "Caught"}],
                     "End": True},
            "Caught": {"Type": "Pass", "End": True},
        },
    })
    sfn = local_cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=f"f-{uuid.uuid4()}", input="{}")
    done = wait_execution(sfn, execution["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["error"]["Error"] == "RuntimeError"


def _heartbeat_machine(local_cloud, name):
    sqs = local_cloud.client("sqs")
    queue = sqs.create_queue(QueueName=f"{name}-q")["QueueUrl"]
    arn = create_machine(local_cloud, name, {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                     "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                     "TimeoutSeconds": 30, "HeartbeatSeconds": 2,
                     "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Lapsed"},
                               {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}],
                     "End": True},
            "Lapsed": {"Type": "Pass", "End": True},
            "TimedOut": {"Type": "Pass", "End": True},
        },
    })
    return arn, queue


def _token(sqs, queue):
    return wait_for(lambda: [json.loads(m["Body"])["token"] for m in
                             sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])])[0]


def test_lapsed_heartbeat_is_states_heartbeat_timeout(local_cloud):
    arn, queue = _heartbeat_machine(local_cloud, "lc-heartbeat-lapse")
    sfn = local_cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=f"hb-{uuid.uuid4()}", input="{}")
    _token(local_cloud.client("sqs"), queue)
    done = wait_execution(sfn, execution["executionArn"], timeout=15)
    assert json.loads(done["output"])["error"]["Error"] == "States.HeartbeatTimeout"


def test_heartbeats_keep_the_task_waiting(local_cloud):
    arn, queue = _heartbeat_machine(local_cloud, "lc-heartbeat-kept")
    sfn = local_cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=f"hb-{uuid.uuid4()}", input="{}")
    token = _token(local_cloud.client("sqs"), queue)
    for _ in range(4):  # 4 s of waiting, twice the heartbeat interval
        sfn.send_task_heartbeat(taskToken=token)
        time.sleep(1)
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output='{"kept": true}')
    assert json.loads(wait_execution(sfn, execution["executionArn"])["output"]) == {"kept": True}


def test_finished_tokens_answer_as_aws_does(local_cloud):
    """After its task timed out a token answers TaskTimedOut; after its task ended, TaskDoesNotExist."""
    sqs = local_cloud.client("sqs")
    sfn = local_cloud.client("stepfunctions")
    queue = sqs.create_queue(QueueName="lc-finished-q")["QueueUrl"]
    arn = create_machine(local_cloud, "lc-finished", {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                     "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                     "TimeoutSecondsPath": "$.timeout",
                     "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Linger"}],
                     "Next": "Linger"},
            "Linger": {"Type": "Wait", "Seconds": 3, "End": True},
        },
    })
    timed_out = sfn.start_execution(stateMachineArn=arn, name=f"to-{uuid.uuid4()}", input='{"timeout": 1}')
    token = _token(sqs, queue)
    time.sleep(2)  # the task has timed out; the execution lingers, still RUNNING
    assert sfn.describe_execution(executionArn=timed_out["executionArn"])["status"] == "RUNNING"
    for send in (lambda: sfn.send_task_failure(taskToken=token, error="Late"),
                 lambda: sfn.send_task_success(taskToken=token, output="{}")):
        with pytest.raises(sfn.exceptions.ClientError) as late:
            send()
        assert late.value.response["Error"]["Code"] == "TaskTimedOut"

    answered = sfn.start_execution(stateMachineArn=arn, name=f"ok-{uuid.uuid4()}", input='{"timeout": 30}')
    token = _token(sqs, queue)
    sfn.send_task_success(taskToken=token, output='{"first": true}')
    time.sleep(0.5)
    assert sfn.describe_execution(executionArn=answered["executionArn"])["status"] == "RUNNING"
    with pytest.raises(sfn.exceptions.ClientError) as second:
        sfn.send_task_failure(taskToken=token, error="Second")
    assert second.value.response["Error"]["Code"] == "TaskDoesNotExist"


def test_send_task_failure_cause_reaches_the_catch(local_cloud):
    sqs = local_cloud.client("sqs")
    sfn = local_cloud.client("stepfunctions")
    queue = sqs.create_queue(QueueName="lc-cause-q")["QueueUrl"]
    arn = create_machine(local_cloud, "lc-cause", {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                     "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                     "Catch": [{"ErrorEquals": ["JobFailed"], "ResultPath": "$.error", "Next": "Failed"}],
                     "End": True},
            "Failed": {"Type": "Pass", "End": True},
        },
    })
    execution = sfn.start_execution(stateMachineArn=arn, name=f"c-{uuid.uuid4()}", input="{}")
    sfn.send_task_failure(taskToken=_token(sqs, queue), error="JobFailed", cause="External job failed")
    output = json.loads(wait_execution(sfn, execution["executionArn"])["output"])
    assert output["error"] == {"Error": "JobFailed", "Cause": "External job failed"}
