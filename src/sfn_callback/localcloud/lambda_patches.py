"""moto patches for Lambda's configuration: the runtimes the local cloud runs, and ``LoggingConfig``.

* CreateFunction / UpdateFunctionConfiguration refuse a runtime the local cloud does not run with AWS's
  error shape (``InvalidParameterValueException``, naming the supported runtimes), and a Node.js runtime when
  this machine has no usable ``node``; the first Node.js function starts fetching the AWS SDK for
  JavaScript v3 into its cache (:mod:`runtimes`).
* ``LoggingConfig`` (``LogFormat``, ``LogGroup``) is kept and returned, as Lambda does (moto drops it); the
  runtime writes the function's logs to that group.
"""

from __future__ import annotations

import logging
from typing import Any

from sfn_callback.localcloud import runtimes
from sfn_callback.localcloud.patching import mark, replace

log = logging.getLogger("sfn_callback.localcloud")


def check_runtime(runtime: str | None, package_type: str | None = "Zip") -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    if (package_type or "Zip") != "Zip":
        return
    if not runtime:
        raise InvalidParameterValueException(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    kind = runtimes.family(runtime)
    if kind is None:
        message = runtimes.unsupported_message(runtime)
        log.error("rejected a function: %s", message)
        raise InvalidParameterValueException(message)
    if kind == "node":
        missing = runtimes.node_missing_message(runtime)
        if missing:
            log.error("rejected a function: %s", missing)
            raise InvalidParameterValueException(missing)
        runtimes.NODE_SDK.prefetch()


def _logging_config(fn: Any, given: dict[str, Any] | None) -> dict[str, Any]:
    current = dict(getattr(fn, "logging_config", None) or {})
    current.update({k: v for k, v in (given or {}).items() if v is not None})
    current.setdefault("LogFormat", "Text")
    current.setdefault("LogGroup", f"/aws/lambda/{fn.function_name}")
    return current


def install() -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    if getattr(LambdaBackend, "_sfn_callback_runtimes", False):
        return
    original_create = LambdaBackend.create_function
    original_update = LambdaBackend.update_function_configuration

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        check_runtime(spec.get("Runtime"), spec.get("PackageType"))
        return original_create(self, spec)

    def update_function_configuration(self: Any, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        if body.get("Runtime"):
            fn = self.get_function(function_name, qualifier)
            check_runtime(body["Runtime"], getattr(fn, "package_type", "Zip"))
        return original_update(self, function_name, qualifier, body)

    replace(LambdaBackend, "create_function", create_function)
    replace(LambdaBackend, "update_function_configuration", update_function_configuration)

    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update_configuration = LambdaFunction.update_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.logging_config = _logging_config(self, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original_configuration(self, *args, **kwargs)
        config["LoggingConfig"] = _logging_config(self, None)
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if isinstance(config_updates.get("LoggingConfig"), dict):
            self.logging_config = _logging_config(self, config_updates["LoggingConfig"])
        return original_update_configuration(self, config_updates)

    replace(LambdaFunction, "__init__", init)
    replace(LambdaFunction, "get_configuration", get_configuration)
    replace(LambdaFunction, "update_configuration", update_configuration)
    mark(LambdaBackend, "_sfn_callback_runtimes")
