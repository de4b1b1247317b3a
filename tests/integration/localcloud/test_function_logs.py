"""Function logs land in CloudWatch Logs as on Lambda, read back with the aws CLI v2 and boto3."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import time

import pytest

from support import wait_for

pytestmark = pytest.mark.cloud

AWS = "/usr/bin/aws"
STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")

PYTHON_APP = '''
import json, logging, time
from aws_lambda_powertools import Logger

logger = Logger(service="lc-logs")
logging.getLogger().setLevel(logging.INFO)

def handler(event, context):
    print("plain print", event.get("n"))
    logger.info("structured", extra={"n": event.get("n"), "nested": {"lines": "a\\nb"}})
    logging.getLogger("app").warning("first line\\nsecond line")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"n": event.get("n"), "stream": context.log_stream_name, "group": context.log_group_name}
'''


def aws(local_cloud, *args: str) -> str:
    if not os.path.exists(AWS):
        pytest.fail("aws CLI v2 missing at /usr/bin/aws: scripts/ensure-test-tools.sh installs Debian's awscli")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_PAGER": ""}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run([AWS, "--endpoint-url", local_cloud.endpoint_url, *args], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def invoke(local_cloud, name, payload):
    response = local_cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())


def events(local_cloud, group: str, stream: str | None = None) -> list[str]:
    out = json.loads(aws(local_cloud, "logs", "filter-log-events", "--log-group-name", group,
                         *(["--log-stream-names", stream] if stream else []), "--output", "json"))
    return [e["message"] for e in out["events"]]


def test_each_invocation_is_logged_with_start_end_report_in_its_environments_stream(local_cloud, make_function):
    make_function("lc-logs", PYTHON_APP, memory=256)
    first = invoke(local_cloud, "lc-logs", {"n": 1})
    second = invoke(local_cloud, "lc-logs", {"n": 2})
    assert first["group"] == "/aws/lambda/lc-logs" and STREAM.match(first["stream"]), first
    assert second["stream"] == first["stream"], "one stream per execution environment"

    messages = wait_for(lambda: (m := events(local_cloud, "/aws/lambda/lc-logs", first["stream"]))
                        and sum(x.startswith("REPORT") for x in m) >= 2 and m, what="two REPORT lines")
    starts = [m for m in messages if m.startswith("START RequestId: ")]
    reports = [m for m in messages if m.startswith("REPORT RequestId: ")]
    assert len(starts) == 2 and len(reports) == 2 and sum(m.startswith("END RequestId: ") for m in messages) == 2
    assert messages[0].startswith("INIT_START Runtime Version: python3.11")
    assert starts[0].endswith("Version: $LATEST")
    for report in reports:
        fields = dict(part.split(": ", 1) for part in report.split("\t") if ": " in part)
        assert {"Duration", "Billed Duration", "Memory Size", "Max Memory Used"} <= set(fields), report
        assert fields["Memory Size"] == "256 MB" and int(fields["Max Memory Used"].split()[0]) > 0
        assert int(fields["Billed Duration"].split()[0]) >= float(fields["Duration"].split()[0])
    assert "Init Duration: " in reports[0] and "Init Duration" not in reports[1], "init is reported on the cold start"
    # Order within an invocation: START, the function's lines, END, REPORT.
    block = messages[messages.index(starts[1]):messages.index(reports[1]) + 1]
    assert block[0] == starts[1] and block[-2].startswith("END") and "plain print 2" in block[1:-2]

    powertools = [json.loads(m) for m in messages if m.startswith("{")]
    assert len(powertools) == 2 and powertools[0]["message"] == "structured" and powertools[0]["n"] == 1, \
        "a Powertools JSON line is one event"
    warning = [m for m in messages if "first line" in m]
    assert len(warning) == 2 and warning[0].startswith("[WARNING]\t") and warning[0].endswith("first line\nsecond line"), \
        "a logging record of two lines is one event"
    assert "[lc-logs] plain print 1" in local_cloud.log_text(), "up's log still prints the function's output"


def test_the_aws_cli_reads_them_tail_get_log_events_and_filter_patterns(local_cloud, make_function):
    make_function("lc-logs-cli", PYTHON_APP)
    invoke(local_cloud, "lc-logs-cli", {"n": 7})
    tail = wait_for(lambda: (out := aws(local_cloud, "logs", "tail", "/aws/lambda/lc-logs-cli", "--since", "10m"))
                    and "REPORT RequestId" in out and out, what="aws logs tail shows the REPORT line")
    assert "plain print 7" in tail and "START RequestId" in tail
    streams = json.loads(aws(local_cloud, "logs", "describe-log-streams", "--log-group-name", "/aws/lambda/lc-logs-cli",
                             "--output", "json"))["logStreams"]
    assert len(streams) == 1 and STREAM.match(streams[0]["logStreamName"])
    got = json.loads(aws(local_cloud, "logs", "get-log-events", "--log-group-name", "/aws/lambda/lc-logs-cli",
                         "--log-stream-name", streams[0]["logStreamName"], "--start-from-head", "--output", "json"))
    assert any(e["message"] == "plain print 7" for e in got["events"])
    reports = json.loads(aws(local_cloud, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/lc-logs-cli",
                             "--filter-pattern", "REPORT", "--output", "json"))["events"]
    assert len(reports) == 1 and reports[0]["message"].startswith("REPORT RequestId:")


def test_aws_logs_tail_follow_shows_invocations_as_they_happen(local_cloud, make_function):
    """The seeds' first troubleshooting step: `aws logs tail --follow` prints a new invocation's lines while it
    runs, without being restarted."""
    make_function("lc-logs-follow", PYTHON_APP)
    invoke(local_cloud, "lc-logs-follow", {"n": 1})  # the group exists before tail starts, as after a deploy
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_PAGER": "", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    follower = subprocess.Popen([AWS, "--endpoint-url", local_cloud.endpoint_url, "logs", "tail",
                                 "/aws/lambda/lc-logs-follow", "--follow", "--since", "10m", "--format", "short"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen: list[str] = []
    try:
        pool = concurrent.futures.ThreadPoolExecutor(1)
        reader = pool.submit(lambda: [seen.append(line) for line in follower.stdout])  # until the process ends
        wait_for(lambda: any("plain print 1" in line for line in seen), timeout=60,
                 what="tail --follow shows the earlier invocation")
        invoke(local_cloud, "lc-logs-follow", {"n": 424242})
        wait_for(lambda: any("plain print 424242" in line for line in seen), timeout=60,
                 what="tail --follow shows the new invocation without a restart")
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(10)
        reader.result(10)
        pool.shutdown()
    assert sum("REPORT RequestId" in line for line in seen) >= 2


def test_concurrent_environments_write_their_own_streams_and_logging_config_names_the_group(local_cloud, make_function):
    make_function("lc-logs-parallel", PYTHON_APP)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda n: invoke(local_cloud, "lc-logs-parallel", {"n": n, "sleep": 1.0}), range(2)))
    assert len({r["stream"] for r in results}) == 2
    logs = local_cloud.client("logs")
    wait_for(lambda: len(logs.describe_log_streams(logGroupName="/aws/lambda/lc-logs-parallel")["logStreams"]) == 2,
             what="two streams")

    lam = local_cloud.client("lambda")
    lam.update_function_configuration(FunctionName="lc-logs-parallel", LoggingConfig={"LogGroup": "/custom/lc-logs"})
    assert lam.get_function_configuration(FunctionName="lc-logs-parallel")["LoggingConfig"]["LogGroup"] == "/custom/lc-logs"
    time.sleep(0.5)  # update_function_configuration is applied at once; the next invoke gets a new environment
    result = invoke(local_cloud, "lc-logs-parallel", {"n": 9})
    assert result["group"] == "/custom/lc-logs"
    messages = wait_for(lambda: (m := events(local_cloud, "/custom/lc-logs")) and any("REPORT" in x for x in m) and m,
                        what="logs in the LoggingConfig group")
    assert "plain print 9" in messages


def test_nodejs_console_lines_are_one_event_each_with_lambdas_format(local_cloud):
    from sfn_callback.deploy.packaging import zip_files

    lam = local_cloud.client("lambda")
    lam.create_function(FunctionName="lc-logs-node", Runtime="nodejs20.x", Role=local_cloud.role_arn(),
                        Handler="index.handler", Code={"ZipFile": zip_files({"index.js": (
                            "exports.handler = async (event) => { console.log('Event:', JSON.stringify(event, null, 2));"
                            " console.error('oops'); process.stdout.write('raw line\\n'); return 1; };")})})
    response = lam.invoke(FunctionName="lc-logs-node", Payload=b'{"a": 1}')
    assert "FunctionError" not in response
    messages = wait_for(lambda: (m := events(local_cloud, "/aws/lambda/lc-logs-node")) and any("REPORT" in x for x in m)
                        and m, what="node logs")
    event_line = next(m for m in messages if "Event:" in m)
    timestamp, request_id, level, text = event_line.split("\t", 3)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", timestamp) and len(request_id) == 36
    assert level == "INFO" and text == 'Event: {\n  "a": 1\n}', "a multi-line console.log is one event"
    assert any(m.split("\t")[2:3] == ["ERROR"] and m.endswith("oops") for m in messages)
    assert "raw line" in messages
