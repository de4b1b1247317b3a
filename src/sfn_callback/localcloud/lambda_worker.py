"""The Python runtime's bootstrap: runs a deployed function's handler against the Lambda Runtime API.

Started by :mod:`sfn_callback.localcloud.lambda_runtime` as ``python -u -P <this file>`` in the function's
code directory, with the function's environment plus ``AWS_LAMBDA_RUNTIME_API`` (its environment's endpoint,
:mod:`runtime_api`), ``_HANDLER`` and ``LAMBDA_TASK_ROOT``, as Lambda starts its Python runtime. It is run as a
file, not as a module of this package, so that the function's own code (its copy of any package) is what its
imports find. Only the standard library is imported before the handler.

Loop: ``GET next`` -> call the handler -> ``POST response`` or ``POST error``; a handler that cannot be
loaded is ``POST init/error`` and the process exits, as on Lambda. ``print`` goes to stdout (one log event
per line); ``logging`` records and unhandled errors go to the log channel given by ``SFN_CALLBACK_LOG_FD``
(one event per record, however many lines, as Lambda's telemetry channel keeps them). Stack traces name the
function's files as ``/var/task/...`` and leave out this runtime's own frames.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback
from typing import Any

RUNTIME_PATH = "/2018-06-01/runtime"
_THIS_FILE = os.path.abspath(__file__)


class LambdaContext:
    """The context object a Python handler receives, with the attributes Lambda documents."""

    def __init__(self, request_id: str, deadline_ms: int, function_arn: str,
                 client_context: Any = None, identity: Any = None) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{self.function_name}")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = identity
        self.client_context = client_context
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


# -- paths: the function's code is /var/task, as on Lambda; the machine's paths stay out of errors ---------
def _path_map() -> list[tuple[str, str]]:
    try:
        pairs = json.loads(os.environ.get("SFN_CALLBACK_PATH_MAP") or "[]")
    except ValueError:
        pairs = []
    return [(str(a), str(b)) for a, b in pairs]


_PATHS = _path_map()


def mask_paths(text: str) -> str:
    for prefix, replacement in _PATHS:
        if prefix in text:
            text = text.replace(prefix, replacement)
    return text


def _frames(tb: Any) -> list[str]:
    """The traceback's entries without this runtime's frames, paths as Lambda shows them."""
    entries = traceback.extract_tb(tb)
    kept = traceback.StackSummary.from_list([e for e in entries if os.path.abspath(e.filename) != _THIS_FILE])
    return [mask_paths(line) for line in kept.format()]


def _error(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": mask_paths(message if message is not None else str(exc)),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": _frames(exc.__traceback__),
    }


def _load_handler(handler_spec: str) -> Any:
    """Resolve ``module.path.function`` the way the Python runtime does, with its error names."""
    module_name, _, function_name = handler_spec.rpartition(".")
    if not module_name or not function_name:
        raise _InitError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler_spec}': not enough values to unpack (expected 2, got 1)",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as exc:
        where = os.path.basename(exc.filename or "")
        raise _InitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc.msg} ({where}, line {exc.lineno})",
        ) from exc
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    except Exception as exc:  # module-level code raised
        raise _InitError(type(exc).__name__, str(exc)) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


# -- the log channel ---------------------------------------------------------------------------------
class _LogChannel:
    """One log event per write (a JSON string per line on the channel's fd), or stderr without one."""

    def __init__(self) -> None:
        fd = os.environ.get("SFN_CALLBACK_LOG_FD")
        self.fd = int(fd) if fd and fd.isdigit() else None

    def write(self, message: str) -> None:
        if self.fd is None:
            sys.stderr.write(message + "\n")
            return
        data = (json.dumps(message) + "\n").encode("utf-8")
        while data:
            data = data[os.write(self.fd, data):]


_REQUEST_ID = ""


class _LambdaLogHandler(logging.Handler):
    """The handler Lambda's Python runtime puts on the root logger: ``[LEVEL]\\ttime\\trequest id\\tmessage``."""

    def __init__(self, channel: _LogChannel) -> None:
        super().__init__()
        self.channel = channel

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        return f"[{record.levelname}]\t{stamp}\t{getattr(record, 'aws_request_id', _REQUEST_ID)}\t{message}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.channel.write(self.format(record))
        except Exception:  # a log write must never fail the invocation
            self.handleError(record)


# -- the Runtime API client --------------------------------------------------------------------------
class _RuntimeClient:
    """HTTP/1.1 on one keep-alive connection, with no more parsing than the Runtime API needs (it is on every
    invoke's path)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")
        self.host = address

    def call(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        head = f"{method} {RUNTIME_PATH}{path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.sock.sendall((head + "\r\n").encode("latin-1") + body)
        status_line = self.rfile.readline()
        if not status_line:
            raise ConnectionError("the Runtime API closed the connection")
        status = int(status_line.split()[1])
        received: dict[str, str] = {}
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            received[name.strip().lower()] = value.strip()
        length = int(received.get("content-length") or 0)
        return status, received, self.rfile.read(length) if length else b""

    def post(self, path: str, body: dict[str, Any] | bytes, error_type: str | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        self.call("POST", path, data, headers)


def _json_or_none(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def main() -> int:
    global _REQUEST_ID
    code_dir = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    handler_spec = os.environ.get("_HANDLER", "")
    client = _RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    channel = _LogChannel()
    root = logging.getLogger()
    root.addHandler(_LambdaLogHandler(channel))
    sys.path.insert(0, code_dir)
    os.chdir(code_dir)
    if os.environ.get("SFN_CALLBACK_RECORD_CALLS"):
        install_call_recorder(os.environ["SFN_CALLBACK_RECORD_CALLS"], os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))

    try:
        handler = _load_handler(handler_spec)
    except _InitError as exc:
        error = _error(exc, exc.error_type, str(exc))
        channel.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}"
                      + ("\nTraceback (most recent call last):\n" + "".join(error["stackTrace"]).rstrip("\n")
                         if error["stackTrace"] else ""))
        client.post("/init/error", error, exc.error_type)
        return 1

    while True:
        status, headers, body = client.call("GET", "/invocation/next")
        if status != 200:
            return 0  # the environment is shutting down
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        _REQUEST_ID = request_id
        os.environ["_X_AMZN_REQUEST_ID"] = request_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            client.post(f"/invocation/{request_id}/error",
                        _error(exc, "Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}"),
                        "Runtime.UnmarshalError")
            continue
        context = LambdaContext(request_id, int(headers.get("lambda-runtime-deadline-ms") or 0),
                                headers.get("lambda-runtime-invoked-function-arn", ""),
                                _json_or_none(headers.get("lambda-runtime-client-context")),
                                _json_or_none(headers.get("lambda-runtime-cognito-identity")))
        try:
            result = handler(event, context)
            payload = json.dumps(result).encode("utf-8")
        except Exception as exc:
            if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
                error = _error(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}")
            else:
                error = _error(exc)
            trace = "".join(error["stackTrace"]).rstrip("\n")
            channel.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}"
                          + (f"\nTraceback (most recent call last):\n{trace}" if trace else ""))
            client.post(f"/invocation/{request_id}/error", error, error["errorType"])
            continue
        client.post(f"/invocation/{request_id}/response", payload)


# IAM action names that differ from ``<signing name>:<operation>``.
_IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}
_RESOURCE_PARAMS = ("TableName", "IndexName", "FunctionName", "QueueUrl", "GroupName", "Name", "stateMachineArn", "Bucket",
                    "Key", "SecretId")


def install_call_recorder(path: str, function_name: str) -> None:
    """Append one JSON line per AWS API call any boto3 client makes: the IAM action and the parameters
    naming its resource (``SFN_CALLBACK_RECORD_CALLS=<file>`` turns this on). A ``RoleArn`` handed to a
    service is recorded as the ``iam:PassRole`` it needs."""
    import botocore.session

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        action = f"{model.service_model.signing_name}:{model.name}"
        lines = [{"function": function_name, "action": _IAM_ACTION.get(action, action),
                  "resource": {k: params[k] for k in _RESOURCE_PARAMS if isinstance(params.get(k), str)}}]
        target = params.get("Target")
        role = params.get("RoleArn") or (target.get("RoleArn") if isinstance(target, dict) else None)
        if role:
            lines.append({"function": function_name, "action": "iam:PassRole", "resource": {"RoleArn": role}})
        with open(path, "a", encoding="utf-8") as out:
            out.write("".join(json.dumps(line) + "\n" for line in lines))

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", record)
        return client

    botocore.session.Session.create_client = create_client




if __name__ == "__main__":
    sys.exit(main())
