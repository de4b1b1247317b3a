"""Task tokens never appear whole in a log line: the logging setup masks them (``sfn_callback.common.logging``).

Real handlers on the local cloud: the PoC's own Lambdas after a scenario run, and a function that logs the task
token of a real ``.waitForTaskToken`` task in every way a handler might (a token field, nested in the event, in
the message, in a dict message, in another field's text, in an exception's traceback, through the standard
``logging`` module) and then resumes the task through the callback core. Their CloudWatch Logs are searched for
the whole token."""

from __future__ import annotations

import json
import uuid

import pytest
from test_poc_cli import cli

from sfn_callback import config
from sfn_callback.deploy import packaging
from support import wait_execution, wait_for

pytestmark = pytest.mark.cloud

APP = '''
import logging
from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.common.logging import lambda_logger, std_logger

logger = lambda_logger("token-logging")
std = std_logger("token-logging.std")
logging.getLogger().setLevel(logging.INFO)


@logger.inject_lambda_context(log_event=True)
def handler(event, context):
    token = event["taskToken"]
    logger.info("received the task", extra={"taskToken": token})
    logger.info(f"waiting on task token {token}")
    logger.info("the event", extra={"event": event, "tokens": [token]})
    logger.info({"payload": {"task_token": token, "note": "a dict message"}})
    logger.info("detail", extra={"detail": f"callback for {token} is next"})
    try:
        raise ValueError(f"could not use {token}")
    except ValueError:
        logger.exception("an error that names the token")
    std.warning("std logging: token=%s", token)
    std.warning("std logging, extra", extra={"taskToken": token})
    print(StepFunctionsCallbacks().succeed(token, {"ok": True}).describe())
    logger.info("done " + token)
    return {"ok": True}
'''


def log_messages(cloud, function: str) -> list[str]:
    logs = cloud.client("logs")
    out: list[str] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{function}"):
        out.extend(e["message"] for e in page["events"])
    return out


def bundle(app: str) -> dict[str, str]:
    files = {"app.py": app}
    for arcname, path in packaging.source_files(packaging.package_root()):
        if arcname.endswith((".py", ".json")):
            files[arcname] = path.read_text()
    return files


def test_a_handler_logging_the_token_every_way_never_shows_it_whole(deployed, make_function):
    cloud = deployed
    name = f"token-logging-{uuid.uuid4().hex[:6]}"
    arn = make_function(name, bundle(APP), timeout=30)
    machine = cloud.client("stepfunctions").create_state_machine(
        name=f"{name}-sm", roleArn=cloud.role_arn(), definition=json.dumps({
            "StartAt": "Wait", "States": {"Wait": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": arn, "Payload": {"taskToken.$": "$$.Task.Token", "n": 1}},
                "TimeoutSeconds": 60, "End": True}}}))["stateMachineArn"]
    execution = cloud.client("stepfunctions").start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    done = wait_execution(cloud.client("stepfunctions"), execution, timeout=60)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"ok": True}  # the core delivered it
    events = cloud.client("stepfunctions").get_execution_history(executionArn=execution)["events"]
    (scheduled,) = [e for e in events if e["type"] == "TaskScheduled"]
    token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["taskToken"]

    lines = wait_for(lambda: (m := log_messages(cloud, name)) and any(line.startswith("DELIVERED") for line in m) and m,
                     timeout=30, what="the function's log")
    text = "\n".join(lines)
    assert token not in text, [line for line in lines if token in line]
    masked = f"{token[:8]}...********...{token[-4:]}"
    assert text.count(masked) >= 10, text  # every way of logging it left a line, masked
    assert "could not use" in text and "std logging" in text and "a dict message" in text


def test_the_poc_handlers_never_log_a_whole_token(deployed):
    """After a scenario run, no line of poc-create-job, poc-poller or poc-simulated-api holds a stored token."""
    done = cli(deployed, "run", "--scenario", "complete", "--no-deploy", "--json", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    items = deployed.client("dynamodb").scan(TableName=config.TOKENS_TABLE)["Items"]
    tokens = {item["taskToken"]["S"] for item in items if "taskToken" in item}  # the sweep's lease item has none
    assert tokens
    for function in (config.CREATE_JOB_FUNCTION, config.POLLER_FUNCTION, config.SIMULATED_API_FUNCTION):
        text = "\n".join(log_messages(deployed, function))
        assert text, function
        assert not [t for t in tokens if t in text], function
    create_job = "\n".join(log_messages(deployed, config.CREATE_JOB_FUNCTION))
    assert "...********..." in create_job  # create-job logs the token, masked
