"""The embedded local cloud: moto's server plus the AWS machinery moto does not simulate.

moto (``ThreadedMotoServer``) serves the AWS APIs with Step Functions execution on, in account
``000000000000``. Added here, in the server's own process:

* Lambda invokes run the deployed zip in warm environments of its runtime, Python, Node.js or ``provided``,
  each against its own Lambda Runtime API (:mod:`lambda_runtime`, :mod:`runtimes`, :mod:`runtime_api`), with
  the function's logs in CloudWatch Logs (:mod:`lambda_logs`);
* execution roles that do not exist are accepted with a warning, or refused with ``--strict-iam``
  (:mod:`iam_roles`);
* a schedule runner fires EventBridge Scheduler schedules (:mod:`scheduler_runner`);
* SQS event source mappings poll like Lambda's (:mod:`sqs_poller`);
* input checks moto lacks (malformed zips, schedule expressions, schedule groups, target ARNs), and in front of
  moto's server the checks of JSON-protocol requests (:mod:`requests_guard`);
* ``GET /health`` (also ``/_localstack/health``) for scripts to wait on;
* ``GET /_sfn_callback/metrics``: metered usage (:mod:`metering`) for the cost measurement;
* ``/_sfn_callback/faults``: fault injection (:mod:`faults`): chosen calls fail or kill their Lambda worker;
* ``/_sfn_callback/lambda-url/<url-id>/...``: Lambda Function URLs (:mod:`function_urls`);
* CloudWatch metrics (EMF, ``AWS/States``, ``AWS/SQS``), alarm evaluation and SNS deliveries (:mod:`monitoring`).

One local cloud per process: moto's backends are process-global.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import zipfile
from dataclasses import dataclass
from typing import Any, cast

import boto3
from botocore.config import Config

from sfn_callback.localcloud.defaults import DEFAULT_REGION, LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS
from sfn_callback.localcloud.patching import mark, replace

log = logging.getLogger("sfn_callback.localcloud")

SERVICES = ("lambda", "stepfunctions", "dynamodb", "sqs", "scheduler", "iam", "sts", "logs", "s3", "events",
            "cloudwatch", "sns")


@dataclass
class LocalCloudConfig:
    host: str = "127.0.0.1"
    port: int = 4566
    region: str = DEFAULT_REGION
    lambda_concurrency: int = 10
    scheduler_tick: float = 0.1
    scheduler_duplicate_rate: float = 0.0
    lambda_async_retries: int = 2
    lambda_async_retry_delay: float = 1.0
    strict_iam: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> LocalCloudConfig:
        env = os.environ
        config = cls(
            lambda_concurrency=int(env.get("SFN_CALLBACK_LAMBDA_CONCURRENCY", cls.lambda_concurrency)),
            scheduler_tick=float(env.get("SFN_CALLBACK_SCHEDULER_TICK", cls.scheduler_tick)),
            scheduler_duplicate_rate=float(env.get("SFN_CALLBACK_SCHEDULER_DUPLICATES", 0.0)),
            lambda_async_retries=int(env.get("SFN_CALLBACK_LAMBDA_ASYNC_RETRIES", cls.lambda_async_retries)),
            lambda_async_retry_delay=float(env.get("SFN_CALLBACK_LAMBDA_ASYNC_RETRY_DELAY",
                                                   cls.lambda_async_retry_delay)),
            strict_iam=env.get("SFN_CALLBACK_STRICT_IAM", "").lower() in ("1", "true", "yes"),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(config, key, value)
        return config


class LocalCloud:
    """Start, serve, stop. ``endpoint_url`` is valid after :meth:`start`."""

    def __init__(self, config: LocalCloudConfig | None = None) -> None:
        self.config = config or LocalCloudConfig()
        self.endpoint_url = ""
        self.started_at = 0.0
        self._server: Any = None
        self.executor: Any = None
        self.scheduler: Any = None
        self.sqs_poller: Any = None
        self._reaper_stop = threading.Event()
        self.metering: Any = None
        self.logs: Any = None
        self.roles: Any = None
        self.monitoring: Any = None  # set by monitoring.install

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        if self.config.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the local cloud listens on loopback only, not {self.config.host}")
        os.environ["MOTO_ACCOUNT_ID"] = LOCAL_ACCOUNT_ID
        os.environ.setdefault("AWS_DEFAULT_REGION", self.config.region)
        from moto.core.config import default_user_config

        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}

        from sfn_callback.localcloud import iam_roles, lambda_patches, runtimes
        from sfn_callback.localcloud.lambda_logs import CloudWatchLogsWriter, install_logs_lock
        from sfn_callback.localcloud.lambda_runtime import LambdaExecutor
        from sfn_callback.localcloud.metering import Metering, install_dynamodb_metering
        from sfn_callback.localcloud.scheduler_runner import ScheduleRunner
        from sfn_callback.localcloud.sqs_poller import EventSourceMappingPoller

        self.metering = Metering()
        install_dynamodb_metering(self.metering)
        self._server = _HealthServer(self, self.config.host, self.config.port)
        self._server.start()
        host, port = self._server.get_host_and_port()
        # The Step Functions interpreter calls Lambda, SQS and DynamoDB at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        self.endpoint_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', 'localhost') else host}:{port}"
        install_logs_lock()
        lambda_patches.install()
        self.roles = iam_roles.RolePolicy(self.config.strict_iam)
        self.logs = CloudWatchLogsWriter(LOCAL_ACCOUNT_ID, self.config.region)
        self.executor = LambdaExecutor(self.endpoint_url, self.config.region,
                                       concurrency=self.config.lambda_concurrency,
                                       async_retries=self.config.lambda_async_retries,
                                       async_retry_delay=self.config.lambda_async_retry_delay,
                                       on_invoke=self.metering.lambda_invocation, logs=self.logs)
        _install_patches(self)
        self.scheduler = ScheduleRunner(self._fire_target, tick=self.config.scheduler_tick,
                                        duplicate_rate=self.config.scheduler_duplicate_rate,
                                        dead_letter=self._dead_letter)
        self.sqs_poller = EventSourceMappingPoller(lambda region: self.client("sqs", region),
                                                   self._invoke_arn)
        self.scheduler.start()
        self.sqs_poller.start()
        self.monitoring.start()  # metrics, alarms, SNS deliveries (:mod:`monitoring`)
        threading.Thread(target=self._reap, name="lambda-reaper", daemon=True).start()
        self.started_at = time.time()
        log.info("local cloud ready at %s (account %s, region %s)", self.endpoint_url, LOCAL_ACCOUNT_ID,
                 self.config.region)
        log.info("%s", runtimes.describe_runtimes())
        log.info("execution roles that do not exist are %s", "refused, as on AWS (--strict-iam)" if self.config.strict_iam
                 else "accepted with a warning, as on LocalStack (`up --strict-iam` refuses them)")
        return self

    def stop(self) -> None:
        self._reaper_stop.set()
        for part in (self.scheduler, self.sqs_poller):
            if part is not None:
                part.stop()
        if getattr(self, "monitoring", None) is not None:
            self.monitoring.stop()
        if self.executor is not None:
            self.executor.close()
        if self.logs is not None:
            self.logs.close()
        if self._server is not None:
            self._server.stop()
        log.info("local cloud stopped")

    def _reap(self) -> None:
        while not self._reaper_stop.wait(30):
            self.executor.reap_idle()

    # -- helpers -----------------------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        return boto3.session.Session(**LOCAL_CREDENTIALS).client(
            service, region_name=region or self.config.region, endpoint_url=self.endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=50))

    def health(self) -> dict[str, Any]:
        # "running" once every piece is in place: before that an invoke would reach moto's echo, not the runtime.
        state = "running" if self.started_at else "starting"
        return {
            "status": state,
            "pid": os.getpid(),
            "endpoint": self.endpoint_url,
            "account": LOCAL_ACCOUNT_ID,
            "region": self.config.region,
            "uptime_seconds": round(time.time() - self.started_at, 3) if self.started_at else 0,
            "services": {name: state for name in SERVICES},
            "lambda": {**self.executor.stats, "workers": self.executor.worker_count()} if self.executor else {},
            "scheduler": dict(self.scheduler.stats) if self.scheduler else {},
            "event_source_mappings": dict(self.sqs_poller.stats) if self.sqs_poller else {},
            "runtimes": _runtimes_health(),
            "iam": self.roles.health() if self.roles else {},
            **(self.monitoring.health() if getattr(self, "monitoring", None) else {}),
        }

    def function_spec(self, account_id: str, region: str, name_or_arn: str, qualifier: str | None = None) -> Any:
        from moto.awslambda.utils import get_backend

        from sfn_callback.localcloud.lambda_runtime import FunctionSpec

        return FunctionSpec.from_moto(get_backend(account_id, region).get_function(name_or_arn, qualifier))

    def _invoke_arn(self, account_id: str, region: str, function_arn: str, payload: bytes) -> Any:
        return self.executor.invoke(self.function_spec(account_id, region, function_arn), payload)

    def _dead_letter(self, region: str, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        sqs = self.client("sqs", region)
        url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1], QueueOwnerAWSAccountId=queue_arn.split(":")[4])
        sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody=body or "{}", MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()})

    def _fire_target(self, account_id: str, region: str, target: dict[str, Any], payload: str) -> None:
        from sfn_callback.localcloud.scheduler_runner import input_text, new_execution_name, target_kind

        arn = target["Arn"]
        kind = target_kind(arn)
        if self.metering is not None:
            self.metering.scheduler_delivery(arn, payload)
        if kind == "lambda":
            self.executor.invoke_async(self.function_spec(account_id, region, arn), payload or "{}")
        elif kind == "sqs":
            sqs = self.client("sqs", region)
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1], QueueOwnerAWSAccountId=arn.split(":")[4])
            params: dict[str, Any] = {"QueueUrl": url["QueueUrl"], "MessageBody": payload or "{}"}
            if group := target.get("SqsParameters", {}).get("MessageGroupId"):
                params["MessageGroupId"] = group
            sqs.send_message(**params)
        elif kind == "states":
            self.client("stepfunctions", region).start_execution(
                stateMachineArn=arn, name=new_execution_name(), input=input_text(payload))
        else:
            raise ValueError(f"target service {kind!r} is not supported by the local schedule runner")


METRICS_PATH = "/_sfn_callback/metrics"


def _runtimes_health() -> dict[str, Any]:
    from sfn_callback.localcloud.runtimes import runtimes_health

    return runtimes_health()


def _metrics(cloud: LocalCloud, environ: dict[str, Any]) -> dict[str, Any]:
    """``?detail=0`` for totals only; ``?jobs=a,b`` to select jobs; ``?since=<epoch s>`` for events."""
    from urllib.parse import parse_qs

    query = parse_qs(environ.get("QUERY_STRING") or "")
    jobs = [j for j in ",".join(query.get("jobs", [])).split(",") if j] or None
    since = query.get("since", [None])[0]
    try:
        since_value = float(since) if since else None
    except ValueError:
        return {"error": f"since must be epoch seconds, got {since!r}"}
    detail = query.get("detail", ["1"])[0] not in ("0", "false", "no")
    return cloud.metering.snapshot(jobs=jobs, detail=detail, since=since_value)


class _HealthServer:
    """moto's ThreadedMotoServer with a health route in front of moto's WSGI application."""

    def __init__(self, cloud: LocalCloud, host: str, port: int) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from sfn_callback.localcloud import faults, function_urls, requests_guard
        from sfn_callback.localcloud.lambda_runtime import FunctionSpec
        from sfn_callback.localcloud.metering import count_request

        cloud_ref = cloud

        class _Server(ThreadedMotoServer):
            def _server_entry(self) -> None:  # same as moto's, with the health route added
                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    MotoRequestHandler,
                    create_backend_app,
                )
                from werkzeug.serving import make_server

                moto_app = DomainDispatcherApplication(create_backend_app)

                def app(environ: dict[str, Any], start_response: Any) -> Any:
                    path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
                    if path in ("/health", "/_localstack/health", METRICS_PATH) and method in ("GET", "HEAD"):
                        doc = cloud_ref.health() if path != METRICS_PATH else _metrics(cloud_ref, environ)
                        body = json.dumps(doc).encode()
                        start_response("200 OK", [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body)))])
                        return [body]
                    if (faulted := faults.handle(environ, start_response)) is not None:  # localcloud/faults.py
                        return faulted
                    served = function_urls.serve(  # Function URLs (localcloud/function_urls.py)
                        lambda fn, payload: cloud_ref.executor.invoke(FunctionSpec.from_moto(fn), payload),
                        environ, start_response)
                    if served is not None:
                        return served
                    if cloud_ref.metering is not None:
                        count_request(cloud_ref.metering, environ)
                    return requests_guard.serve(moto_app, environ, start_response)  # JSON-protocol checks

                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._impl = _Server(ip_address=host, port=port, verbose=False)

    def start(self) -> None:
        self._impl.start()

    def get_host_and_port(self) -> tuple[str, int]:
        return self._impl.get_host_and_port()

    def stop(self) -> None:
        self._impl.stop()


# -- patches into moto -----------------------------------------------------------------------------
_INVALID_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # Invoke's request payload limits (RequestResponse, Event)
MAX_ASYNC_PAYLOAD = 1024 * 1024


def _payload_too_large_error() -> type:
    from moto.awslambda.exceptions import LambdaClientError

    class PayloadTooLarge(LambdaClientError):
        code = 413

        def __init__(self, size: int, limit: int) -> None:
            super().__init__("RequestEntityTooLargeException",
                             f"{size} byte payload is too large for the Invoke operation (limit {limit} bytes)")

    return PayloadTooLarge


def _install_patches(cloud: LocalCloud) -> None:
    from sfn_callback.localcloud import iam_roles

    iam_roles.install(cloud.roles)  # first: the input checks below wrap it, and answer before it

    from moto.awslambda import models as lambda_models
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.scheduler import models as scheduler_models
    from moto.scheduler.exceptions import ScheduleGroupNotFound, ValidationException
    from moto.sqs.models import Queue

    from sfn_callback.localcloud import function_urls, patches_lambda, patches_sqs, patches_stepfunctions
    from sfn_callback.localcloud.lambda_runtime import FunctionSpec
    from sfn_callback.localcloud.monitoring import install as install_monitoring
    from sfn_callback.localcloud.schedules import ScheduleExpressionError, parse

    PayloadTooLarge = _payload_too_large_error()
    from sfn_callback.localcloud.scheduler_runner import target_kind

    # Lambda: run the real handler.
    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
               response_headers: Any) -> bytes:
        fn = self.get_function(function_name, qualifier)
        spec = FunctionSpec.from_moto(fn)
        invocation_type = (headers.get("X-Amz-Invocation-Type") or "RequestResponse") if headers else "RequestResponse"
        size = len(body.encode("utf-8") if isinstance(body, str) else (body or b""))
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        if size > limit:
            log.error("rejected an invoke of %s: %d-byte payload over the %d-byte limit", spec.name, size, limit)
            raise PayloadTooLarge(size, limit)
        response_headers["x-amz-executed-version"] = spec.version
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            cloud.executor.invoke_async(spec, body)
            return b""
        result = cloud.executor.invoke(spec, body)
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
            log.warning("function %s returned an error: %s", spec.name, result.payload[:500].decode("utf-8", "replace"))
        response_headers["Content-Length"] = str(len(result.payload))
        return result.payload

    replace(LambdaSimpleBackend, "invoke", invoke)

    # Lambda: reject what AWS rejects at upload.
    original_zipfile_content = lambda_models._zipfile_content

    def zipfile_content(zipfile_content: Any) -> Any:
        content = original_zipfile_content(zipfile_content)
        if not zipfile.is_zipfile(io.BytesIO(content[0])):
            log.error("rejected a function upload: %s", _INVALID_ZIP)
            raise InvalidParameterValueException(_INVALID_ZIP)
        return content

    lambda_models._zipfile_content = zipfile_content

    # SQS: no synchronous delivery inside SendMessage; the event source poller delivers instead.
    replace(Queue, "lambda_event_source_mappings", property(lambda self: {}, lambda self, value: None))

    # Scheduler: validate what AWS validates.
    backend_cls = scheduler_models.EventBridgeSchedulerBackend
    original_create, original_update = backend_cls.create_schedule, backend_cls.update_schedule

    def check(self: Any, group_name: str | None, expression: str, tz: str | None, target: dict[str, Any]) -> None:
        if (group_name or "default") not in self.schedule_groups:
            raise ScheduleGroupNotFound(group_name or "default")
        try:
            parse(expression, tz, allow_seconds=True)
            target_kind((target or {}).get("Arn", ""))
        except ScheduleExpressionError as exc:
            log.error("rejected a schedule: %s", exc)
            raise ValidationException(str(exc)) from exc

    def create_schedule(self: Any, **kwargs: Any) -> Any:
        check(self, kwargs.get("group_name"), kwargs.get("schedule_expression", ""),
              kwargs.get("schedule_expression_timezone"), kwargs.get("target", {}))
        return original_create(self, **kwargs)

    def update_schedule(self: Any, **kwargs: Any) -> Any:
        check(self, kwargs.get("group_name"), kwargs.get("schedule_expression", ""),
              kwargs.get("schedule_expression_timezone"), kwargs.get("target", {}))
        return original_update(self, **kwargs)

    replace(backend_cls, "create_schedule", create_schedule)
    replace(backend_cls, "update_schedule", update_schedule)

    _patch_heartbeat_timeout()
    _patch_finished_tokens()
    _patch_dynamodb_atomic_writes()
    patches_stepfunctions.install()  # ValidateStateMachineDefinition, ListStateMachineVersions
    patches_sqs.install()  # JSON attributes as compact JSON
    patches_lambda.install()  # ListEventSourceMappings by function name, ARN or partial ARN
    patches_lambda.install_policy_conditions()  # AddPermission's function URL conditions, as AWS writes them
    function_urls.install(lambda: cloud.endpoint_url)  # local Function URLs, AuthType checked
    install_monitoring(cloud)  # EMF, AWS/States and AWS/SQS metrics, alarms, SNS deliveries; sets cloud.monitoring


def _patch_dynamodb_atomic_writes() -> None:
    """DynamoDB checks a write's condition and applies the write as one atomic step. moto's backend has no
    lock, so through the threaded server two concurrent conditional writes to one item can both pass their
    condition (both "PENDING → APPROVED" and "PENDING → REJECTED" succeed). Serialize the backend's writes."""
    import functools

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_sfn_callback_serialized", False):
            continue

        @functools.wraps(original)
        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        mark(serialized, "_sfn_callback_serialized")
        setattr(DynamoDBBackend, name, serialized)


def _patch_heartbeat_timeout() -> None:
    """A lapsed heartbeat is ``States.HeartbeatTimeout`` on AWS; moto reports it as ``States.Timeout``."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTask._from_error

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, HeartbeatTimeoutError):
            name = StatesErrorNameType.StatesHeartbeatTimeout
            return FailureEvent(
                env=env, error_name=StatesErrorName(typ=name), event_type=HistoryEventType.TaskTimedOut,
                # moto declares every key of EventDetails required; it builds them with one key, as here
                event_details=cast(EventDetails, {"taskTimedOutEventDetails": TaskTimedOutEventDetails(
                    error=name.to_name())}))
        return original(self, env, ex)

    replace(StateTask, "_from_error", from_error)


def _patch_finished_tokens() -> None:
    """A task token is finished once its task has its one outcome, as on AWS: the callback and the task's
    timers decide it atomically, and SendTask* answer ``TaskTimedOut`` / ``TaskDoesNotExist`` after
    (:mod:`sfn_callback.localcloud.task_outcome`)."""
    from sfn_callback.localcloud import task_outcome

    task_outcome.install()
