"""The Lambda worker's opt-in call recorder: one line per AWS call with its IAM action and resource.

The worker (the Python runtime's bootstrap) runs as the local cloud runs it: a process polling a Runtime API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from sfn_callback.localcloud.runtime_api import Invocation, RuntimeApi
from sfn_callback.localcloud.runtimes import PYTHON_BOOTSTRAP


def run_worker(code_dir, handler: str, env: dict[str, str]) -> Invocation:
    """Start the worker against a Runtime API, hand it one event, return what it answered."""
    api = RuntimeApi("test")
    proc = subprocess.Popen([sys.executable, "-u", "-P", str(PYTHON_BOOTSTRAP)], cwd=code_dir,
                            env={**env, "AWS_LAMBDA_RUNTIME_API": api.address, "_HANDLER": handler,
                                 "LAMBDA_TASK_ROOT": str(code_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        invocation = Invocation("r1", b"{}", int(time.time() * 1000) + 60_000, "arn:aws:lambda:us-east-1:0:function:f",
                                "Root=1-0-0")
        api.dispatch(invocation)
        assert invocation.done.wait(60), "the worker answered"
        return invocation
    finally:
        proc.kill()
        proc.wait()
        api.close()


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
    answer = run_worker(code, "fn.handler", env)
    assert answer.kind == "response" and json.loads(answer.body) == "ok", answer.body
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
    answer = run_worker(code, "fn.handler", env)
    assert answer.kind == "response" and json.loads(answer.body) == "botocore.session"
    assert not list(tmp_path.glob("*.jsonl"))
