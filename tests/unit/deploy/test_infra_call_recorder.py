"""The Lambda worker's opt-in call recorder: one line per AWS call with its IAM action and resource."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_worker_records_iam_actions_of_the_handlers_calls(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "fn.py").write_text(
        "import boto3\n"
        "from botocore.config import Config\n"
        "def handler(event, context):\n"
        "    kw = dict(region_name='us-east-1', endpoint_url='http://127.0.0.1:9', aws_access_key_id='x',\n"
        "              aws_secret_access_key='x', config=Config(retries={'max_attempts': 0}, connect_timeout=1))\n"
        "    for call in (lambda: boto3.session.Session().client('lambda', **kw).invoke(FunctionName='f1'),\n"
        "                 lambda: boto3.client('dynamodb', **kw).get_item(TableName='t1', Key={}),\n"
        "                 lambda: boto3.client('stepfunctions', **kw).send_task_success(taskToken='t', output='{}'),\n"
        "                 lambda: boto3.client('scheduler', **kw).create_schedule(Name='s', GroupName='g',\n"
        "                     ScheduleExpression='rate(1 minute)', FlexibleTimeWindow={'Mode': 'OFF'},\n"
        "                     Target={'Arn': 'arn:aws:lambda:us-east-1:0:function:f', 'RoleArn': 'arn:aws:iam::0:role/r'})):\n"
        "        try:\n"
        "            call()\n"
        "        except Exception:\n"
        "            pass\n"
        "    return 'ok'\n"
    )
    record = tmp_path / "calls.jsonl"
    env = {**os.environ, "SFN_CALLBACK_RECORD_CALLS": str(record), "AWS_LAMBDA_FUNCTION_NAME": "fn-under-test"}
    request = {"requestId": "r1", "payload": "{}", "deadlineMs": 2**42, "context": {}}
    proc = subprocess.run([sys.executable, "-m", "sfn_callback.localcloud.lambda_worker", str(code), "fn.handler"],
                          input=json.dumps(request) + "\n", capture_output=True, text=True, env=env, timeout=60)
    assert '"type": "result"' in proc.stdout, proc.stderr
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert {line["function"] for line in lines} == {"fn-under-test"}
    assert [(line["action"], line["resource"]) for line in lines] == [
        ("lambda:InvokeFunction", {"FunctionName": "f1"}),
        ("dynamodb:GetItem", {"TableName": "t1"}),
        ("states:SendTaskSuccess", {}),
        ("scheduler:CreateSchedule", {"GroupName": "g", "Name": "s"}),
        ("iam:PassRole", {"RoleArn": "arn:aws:iam::0:role/r"}),
    ]


def test_worker_records_nothing_unless_asked(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "fn.py").write_text("def handler(event, context):\n    import botocore.session, json\n"
                                "    return botocore.session.Session.create_client.__module__\n")
    env = {k: v for k, v in os.environ.items() if k != "SFN_CALLBACK_RECORD_CALLS"}
    request = {"requestId": "r1", "payload": "{}", "deadlineMs": 2**42, "context": {}}
    proc = subprocess.run([sys.executable, "-m", "sfn_callback.localcloud.lambda_worker", str(code), "fn.handler"],
                          input=json.dumps(request) + "\n", capture_output=True, text=True, env=env, timeout=60)
    result = json.loads(proc.stdout.splitlines()[-1])
    assert json.loads(result["payload"]) == "botocore.session"
    assert not list(tmp_path.glob("*.jsonl"))
