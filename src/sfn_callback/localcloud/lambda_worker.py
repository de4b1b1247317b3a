"""One warm Lambda execution environment: a subprocess that runs a deployed function's Python handler.

Started by :mod:`sfn_callback.localcloud.lambda_runtime` as
``python -m sfn_callback.localcloud.lambda_worker CODE_DIR HANDLER`` with the function's environment.
It speaks newline-delimited JSON on the stdout it was given; the handler's own ``print`` output goes to
stderr (the function's log), exactly as Lambda keeps the response channel and the log apart.

Messages, one JSON object per line:
  worker -> parent  {"type": "ready"} or {"type": "init_error", "error": {...}} once at start;
  parent -> worker  {"requestId", "payload" (str), "deadlineMs", "context": {...}} per invoke;
  worker -> parent  {"type": "result", "payload": str} or {"type": "error", "error": {...}}.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    """The context object a Python handler receives, with the attributes Lambda documents."""

    def __init__(self, request: dict[str, Any]) -> None:
        ctx = request.get("context", {})
        self.aws_request_id: str = request["requestId"]
        self.function_name: str = ctx.get("functionName", "")
        self.function_version: str = ctx.get("functionVersion", "$LATEST")
        self.invoked_function_arn: str = ctx.get("invokedFunctionArn", "")
        self.memory_limit_in_mb: int = int(ctx.get("memoryLimitInMB", 128))
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = ctx.get("logStreamName", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = int(request["deadlineMs"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
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
        raise _InitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc.msg} ({exc.filename}, line {exc.lineno})",
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


# IAM action names that differ from ``<signing name>:<operation>``.
_IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}
_RESOURCE_PARAMS = ("TableName", "IndexName", "FunctionName", "QueueUrl", "GroupName", "Name", "stateMachineArn", "Bucket",
                    "Key")


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

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main(argv: list[str]) -> int:
    code_dir, handler_spec = argv[1], argv[2]
    # Keep the protocol channel private: the handler's prints go to stderr like a function's log.
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path.insert(0, code_dir)
    os.chdir(code_dir)
    if os.environ.get("SFN_CALLBACK_RECORD_CALLS"):
        install_call_recorder(os.environ["SFN_CALLBACK_RECORD_CALLS"], os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))

    try:
        handler = _load_handler(handler_spec)
    except _InitError as exc:
        _send(channel, {"type": "init_error", "error": _error(exc, exc.error_type, str(exc))})
        return 1
    _send(channel, {"type": "ready"})

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        os.environ["_X_AMZN_REQUEST_ID"] = request["requestId"]
        try:
            event = json.loads(request["payload"]) if request["payload"] else {}
        except json.JSONDecodeError as exc:
            _send(channel, {"type": "error", "error": _error(exc, "Runtime.UnmarshalError",
                                                                f"Unable to unmarshal input: {exc}")})
            continue
        try:
            result = handler(event, LambdaContext(request))
            payload = json.dumps(result)
        except Exception as exc:
            if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
                _send(channel, {"type": "error", "error": _error(exc, "Runtime.MarshalError",
                                                                    f"Unable to marshal response: {exc}")})
            else:
                traceback.print_exc()
                _send(channel, {"type": "error", "error": _error(exc)})
            continue
        _send(channel, {"type": "result", "payload": payload})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
