"""Node.js and provided runtimes on the local cloud, through the same Runtime API mechanism as Python.

Real functions, real `node`, real HTTP: what Lambda's nodejs18.x/20.x/22.x semantics promise (handler
resolution for CommonJS and ES modules, async and callback handlers, the context, error shapes, timeouts,
warm reuse, concurrency, the AWS SDK v3 without bundling it), a ``provided.al2023`` function's own
``bootstrap``, and the runtimes that are refused.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import zipfile

import pytest
from botocore.exceptions import ClientError

from sfn_callback.deploy.packaging import zip_files

pytestmark = pytest.mark.cloud

NODE_APP = r"""
const os = require('os');
exports.handler = async (event, context) => {
  if (event.throw) { const e = new TypeError('bad input: ' + event.throw); throw e; }
  if (event.sleep) await new Promise((resolve) => setTimeout(resolve, event.sleep));
  console.log('computing', JSON.stringify(event, null, 2));
  return {
    sum: (event.a || 0) + (event.b || 0), greeting: process.env.GREETING, pid: process.pid,
    requestId: context.awsRequestId, functionName: context.functionName, memory: context.memoryLimitInMB,
    remaining: context.getRemainingTimeInMillis(), arn: context.invokedFunctionArn,
    waits: context.callbackWaitsForEmptyEventLoop, startedAt: Date.now(),
  };
};
"""


def create(local_cloud, name, files, handler="index.handler", runtime="nodejs20.x", timeout=10, env=None, **extra):
    lam = local_cloud.client("lambda")
    try:
        lam.delete_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        pass
    code = files if isinstance(files, bytes) else zip_files(files)
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=local_cloud.role_arn(), Handler=handler,
                               Timeout=timeout, Code={"ZipFile": code}, Environment={"Variables": env or {}},
                               **extra)


def invoke(local_cloud, name, payload=None):
    response = local_cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read() or b"null")


def machine_paths(local_cloud) -> list[str]:
    """Paths of this machine that must never appear in an error: the code root, the runtime, the repo, the SDK."""
    health = local_cloud.health()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return ["/tmp/", "sfn-callback-lambda-", repo, health["runtimes"]["nodejs"]["aws_sdk"]["dir"], "/root/", "/home/"]


def assert_no_machine_path(local_cloud, body) -> None:
    text = json.dumps(body)
    for path in machine_paths(local_cloud):
        assert path not in text, f"{path} shows in {text}"


def test_commonjs_async_handler_with_lambdas_context_environment_and_warm_reuse(local_cloud):
    arn = create(local_cloud, "rt-node-cjs", {"index.js": NODE_APP}, env={"GREETING": "hello"},
                 MemorySize=256, timeout=5)["FunctionArn"]
    error, first = invoke(local_cloud, "rt-node-cjs", {"a": 2, "b": 40})
    assert error is None, first
    assert first["sum"] == 42 and first["greeting"] == "hello"
    assert first["functionName"] == "rt-node-cjs" and first["arn"] == arn and first["memory"] == "256"
    assert len(first["requestId"]) == 36 and first["waits"] is True
    assert 0 < first["remaining"] <= 5000
    pids = {invoke(local_cloud, "rt-node-cjs", {"a": i})[1]["pid"] for i in range(4)}
    assert pids == {first["pid"]}, "sequential invokes reuse one warm environment"
    assert local_cloud.health()["runtimes"]["nodejs"]["version"].startswith("v")


def test_es_modules_mjs_and_type_module_and_nested_handler_paths(local_cloud):
    create(local_cloud, "rt-node-mjs", {"index.mjs": "export const handler = async (event) => ({esm: 'mjs', n: event.n});"})
    assert invoke(local_cloud, "rt-node-mjs", {"n": 7}) == (None, {"esm": "mjs", "n": 7})
    create(local_cloud, "rt-node-type-module", {
        "package.json": json.dumps({"type": "module"}),
        "src/lib/app.js": "import { sep } from 'path';\nexport const api = { handle: async () => ({ esm: 'type-module', sep }) };",
    }, handler="src/lib/app.api.handle")
    assert invoke(local_cloud, "rt-node-type-module") == (None, {"esm": "type-module", "sep": "/"})
    create(local_cloud, "rt-node-cjs-ext", {"handlers/main.cjs": "module.exports.go = async () => 'cjs';"},
           handler="handlers/main.go")
    assert invoke(local_cloud, "rt-node-cjs-ext") == (None, "cjs")


CALLBACK_APP = r"""
exports.handler = (event, context, callback) => {
  if (event.noWait) context.callbackWaitsForEmptyEventLoop = false;
  const result = { calledBack: true };
  setTimeout(() => { result.timerRan = true; }, 300);
  callback(null, result);  // serialised when the runtime sends it: after the timer, unless told not to wait
};
"""


def test_callback_handlers_wait_for_the_empty_event_loop_unless_told_not_to(local_cloud):
    create(local_cloud, "rt-node-callback", {"index.js": CALLBACK_APP})
    assert invoke(local_cloud, "rt-node-callback") == (None, {"calledBack": True, "timerRan": True})
    assert invoke(local_cloud, "rt-node-callback", {"noWait": True}) == (None, {"calledBack": True})
    create(local_cloud, "rt-node-callback-error", {"index.js": "exports.handler = (e, c, cb) => cb(new RangeError('out of range'));"})
    error, body = invoke(local_cloud, "rt-node-callback-error")
    assert error == "Unhandled" and body["errorType"] == "RangeError" and body["errorMessage"] == "out of range"


def test_errors_have_the_nodejs_shape_and_show_no_path_of_the_machine(local_cloud):
    create(local_cloud, "rt-node-errors", {"index.js": NODE_APP})
    error, body = invoke(local_cloud, "rt-node-errors", {"throw": "nope"})
    assert error == "Unhandled"
    assert set(body) == {"errorType", "errorMessage", "trace"}
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "bad input: nope"
    assert body["trace"][0] == "TypeError: bad input: nope"
    assert any("/var/task/index.js" in line for line in body["trace"]), body["trace"]
    assert not any("bootstrap" in line for line in body["trace"]), "the runtime's own frames are left out"
    assert_no_machine_path(local_cloud, body)
    assert invoke(local_cloud, "rt-node-errors", {"a": 1})[1]["sum"] == 1, "the environment keeps serving"


@pytest.mark.parametrize("files, handler, error_type, message", [
    ({"other.js": "exports.x = 1;"}, "index.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'index'"),
    ({"index.js": "exports.other = 1;"}, "index.handler", "Runtime.HandlerNotFound", "index.handler is undefined or not exported"),
    ({"index.js": "exports.handler = async () => { return {; };"}, "index.handler", "Runtime.UserCodeSyntaxError", "SyntaxError"),
    ({"index.js": "exports.handler = 1;"}, "index", "Runtime.MalformedHandlerName", "Bad handler"),
    ({"index.js": "const x = require('no-such-package');\nexports.handler = async () => x;"}, "index.handler",
     "Runtime.ImportModuleError", "Cannot find module 'no-such-package'"),
])
def test_handlers_that_cannot_load_are_runtime_errors(local_cloud, files, handler, error_type, message):
    create(local_cloud, "rt-node-broken", files, handler=handler)
    error, body = invoke(local_cloud, "rt-node-broken")
    assert error == "Unhandled"
    assert body["errorType"] == error_type and message in body["errorMessage"], body
    assert_no_machine_path(local_cloud, body)


def test_timeout_kills_the_environment_and_the_next_invoke_gets_a_new_one(local_cloud):
    create(local_cloud, "rt-node-slow", {"index.js": NODE_APP}, timeout=1)
    pid = invoke(local_cloud, "rt-node-slow", {"a": 1})[1]["pid"]
    error, body = invoke(local_cloud, "rt-node-slow", {"sleep": 3000})
    assert error == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    after = invoke(local_cloud, "rt-node-slow", {"a": 2})[1]
    assert after["sum"] == 2 and after["pid"] != pid


def test_concurrent_invokes_get_their_own_environments(local_cloud):
    create(local_cloud, "rt-node-parallel", {"index.js": NODE_APP})
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: invoke(local_cloud, "rt-node-parallel", {"sleep": 1500})[1], range(3)))
    assert len({r["pid"] for r in results}) == 3
    assert max(r["startedAt"] for r in results) < min(r["startedAt"] for r in results) + 1500, "they ran in parallel"


SDK_CJS = r"""
const { DynamoDBClient, PutItemCommand, GetItemCommand } = require('@aws-sdk/client-dynamodb');
const client = new DynamoDBClient({});  // no endpoint, no credentials: the runtime's environment gives them
exports.handler = async (event) => {
  await client.send(new PutItemCommand({ TableName: 'rt-node-sdk', Item: { pk: { S: event.key }, via: { S: 'cjs' } } }));
  const got = await client.send(new GetItemCommand({ TableName: 'rt-node-sdk', Key: { pk: { S: event.key } } }));
  return got.Item.via.S;
};
"""
SDK_ESM = r"""
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
export const handler = async (event) => {
  await doc.send(new PutItemCommand({ TableName: 'rt-node-sdk', Item: { pk: { S: event.key }, via: { S: 'esm' } } }));
  return (await doc.send(new GetCommand({ TableName: 'rt-node-sdk', Key: { pk: event.key } }))).Item.via;
};
"""


def test_the_aws_sdk_v3_is_there_without_bundling_it_and_a_bundled_copy_wins(local_cloud):
    local_cloud.client("dynamodb").create_table(
        TableName="rt-node-sdk", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    create(local_cloud, "rt-node-sdk-cjs", {"index.js": SDK_CJS}, timeout=30)
    assert invoke(local_cloud, "rt-node-sdk-cjs", {"key": "a"}) == (None, "cjs")
    create(local_cloud, "rt-node-sdk-esm", {"index.mjs": SDK_ESM}, timeout=30)
    assert invoke(local_cloud, "rt-node-sdk-esm", {"key": "b"}) == (None, "esm")
    item = local_cloud.client("dynamodb").get_item(TableName="rt-node-sdk", Key={"pk": {"S": "b"}})["Item"]
    assert item["via"]["S"] == "esm"
    sdk = local_cloud.health()["runtimes"]["nodejs"]["aws_sdk"]
    assert sdk["ready"] and os.path.isdir(os.path.join(sdk["dir"], "node_modules", "@aws-sdk", "client-dynamodb"))
    create(local_cloud, "rt-node-sdk-own", {
        "index.js": "exports.handler = async () => require('@aws-sdk/client-dynamodb').whose;",
        "node_modules/@aws-sdk/client-dynamodb/index.js": "exports.whose = 'the function\\'s own copy';",
        "node_modules/@aws-sdk/client-dynamodb/package.json": json.dumps({"name": "@aws-sdk/client-dynamodb", "main": "index.js"}),
    })
    assert invoke(local_cloud, "rt-node-sdk-own") == (None, "the function's own copy")


SHELL_BOOTSTRAP = r"""#!/bin/sh
# A provided.al2023 function: its own bootstrap polls the Runtime API (as AWS's tutorial shows).
set -eu
echo "bootstrap starting for $_HANDLER"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  DEADLINE=$(grep -Fi Lambda-Runtime-Deadline-Ms "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  case "$EVENT" in
    *fail*) curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/error" \
              -H "Lambda-Runtime-Function-Error-Type: Shell.Failure" \
              -d '{"errorMessage": "asked to fail", "errorType": "Shell.Failure"}' > /dev/null ;;
    *) curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \
              -d "{\"echo\": $EVENT, \"requestId\": \"$REQUEST_ID\", \"deadline\": $DEADLINE, \"pid\": $$}" > /dev/null ;;
  esac
done
"""


def _zip_with_modes(files: dict[str, tuple[str, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (content, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def test_provided_al2023_runs_the_functions_own_bootstrap(local_cloud):
    create(local_cloud, "rt-provided", _zip_with_modes({"bootstrap": (SHELL_BOOTSTRAP, 0o755)}),
           handler="function.handler", runtime="provided.al2023")
    error, first = invoke(local_cloud, "rt-provided", {"n": 1})
    assert error is None, first
    assert first["echo"] == {"n": 1} and len(first["requestId"]) == 36 and first["deadline"] > 0
    assert invoke(local_cloud, "rt-provided", {"n": 2})[1]["pid"] == first["pid"], "warm reuse"
    error, body = invoke(local_cloud, "rt-provided", {"fail": True})
    assert error == "Unhandled" and body == {"errorMessage": "asked to fail", "errorType": "Shell.Failure"}
    create(local_cloud, "rt-provided-none", {"main.sh": "echo hi"}, handler="x", runtime="provided.al2")
    error, body = invoke(local_cloud, "rt-provided-none")
    assert error == "Unhandled" and body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]" in body["errorMessage"]


def test_python_traces_name_the_function_code_as_var_task(local_cloud, make_function):
    make_function("rt-python-error", "def handler(event, context):\n    raise KeyError('missing')\n")
    error, body = invoke(local_cloud, "rt-python-error")
    assert error == "Unhandled" and body["errorType"] == "KeyError"
    assert any('File "/var/task/app.py", line 2, in handler' in line for line in body["stackTrace"]), body
    assert not any("lambda_worker" in line for line in body["stackTrace"])
    assert_no_machine_path(local_cloud, body)
    make_function("rt-python-syntax", "def handler(event, context)\n    return 1\n")
    _, body = invoke(local_cloud, "rt-python-syntax")
    assert body["errorType"] == "Runtime.UserCodeSyntaxError" and "(app.py, line 1)" in body["errorMessage"]
    assert_no_machine_path(local_cloud, body)


@pytest.mark.parametrize("runtime", ["java21", "ruby3.3", "dotnet8", "nodejs16.x", "python2.7"])
def test_other_runtimes_are_refused_at_create_function_naming_the_supported_ones(local_cloud, runtime):
    with pytest.raises(ClientError) as refused:
        create(local_cloud, "rt-refused", {"index.js": ""}, runtime=runtime)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    message = refused.value.response["Error"]["Message"]
    assert f"The runtime parameter of {runtime} is not supported" in message
    for supported in ("nodejs20.x", "python3.11", "provided.al2023"):
        assert supported in message


def test_changing_a_function_to_an_unsupported_runtime_is_refused(local_cloud):
    create(local_cloud, "rt-node-update", {"index.js": NODE_APP})
    lam = local_cloud.client("lambda")
    with pytest.raises(ClientError) as refused:
        lam.update_function_configuration(FunctionName="rt-node-update", Runtime="java17")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName="rt-node-update")["Runtime"] == "nodejs20.x"
