"""Lambda handler factories: a user's poller, sweep and create-job Lambdas in a few lines of their own code.

::

    from sfn_callback import Completed, Failed, InProgress, poller_handler

    def check(job_id: str):
        job = my_api.get(job_id)
        if job["state"] == "done":
            return Completed({"url": job["url"]})
        if job["state"] == "error":
            return Failed("RenderFailed", job["message"])
        return InProgress()

    handler = poller_handler(check)

Each factory returns ``handler(event, context)`` with the PoC's guarantees: one callback per token (claim before
send), no lost callback on a crash (the claim holds the outcome; the invocation's retry or a later poll resends
it), the job's schedule deleted on every terminal path, one attempt per poll slot. Tables, the schedule group and
roles come from the environment with the PoC's defaults (:mod:`sfn_callback.polling.bootstrap`). Services are
built at the first invocation and reused by the warm environment. Each handler publishes its metrics (polls,
attempts, skips and errors; jobs created and refused) under the component name ``metrics`` in the stack's
namespace (:mod:`sfn_callback.metrics`), as EMF lines in the function's log; ``metrics=None`` turns them off.
Metrics never fail the handler's work.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from sfn_callback.callbacks.port import TaskCallbacks
from sfn_callback.common.logging import lambda_logger
from sfn_callback.metrics import components
from sfn_callback.metrics import names as metric_names
from sfn_callback.polling import bootstrap
from sfn_callback.polling.application.create_job import CreateJobService, JobCreator
from sfn_callback.polling.application.push import PUSH_HOLDER_PREFIX, PushReceiver
from sfn_callback.polling.application.sweep import SweepPoller
from sfn_callback.polling.domain.events import PollerEvent, parse
from sfn_callback.polling.domain.jobs import CheckJob, SubmitJob
from sfn_callback.polling.domain.lifecycle import TokenPoller

T = TypeVar("T")

Handler = Callable[[Any, Any], dict[str, Any]]

__all__ = ["CheckFunctionJobApi", "SubmitFunctionJobCreator", "create_job_handler", "poller_handler",
           "push_handler", "sweep_handler"]


class CheckFunctionJobApi:
    """The poller's ``JobApi`` port on a user's check function."""

    def __init__(self, check: CheckJob):
        self.check = check

    def check_status(self, job_id: str) -> Any:
        return self.check(job_id)


class SubmitFunctionJobCreator:
    """Create-job's ``JobCreator`` port on a user's submit function (and optional cancel, create-job's undo)."""

    def __init__(self, submit: SubmitJob, cancel: Callable[[str], None] | None = None):
        self.submit = submit
        self.cancel = cancel

    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"jobId": self.submit(payload)}

    def cancel_job(self, job_id: str) -> None:
        if self.cancel is not None:
            self.cancel(job_id)


def _measured(component: str | None, meter: Callable[[str, Callable[[], T]], T], work: Callable[[], T]) -> T:
    """``work()`` measured for ``component`` (its metrics in the stack's namespace; never an error of the work),
    or just ``work()`` when metrics are off (``metrics=None``)."""
    return work() if component is None else meter(component, work)


def _holder(context: Any) -> str | None:
    return getattr(context, "aws_request_id", None)


def _job_port(check: CheckJob | None, jobs: Any, factory: str) -> Any:
    if (check is None) == (jobs is None):
        raise TypeError(f"{factory} needs a check function or a jobs port (one of the two)")
    return jobs if jobs is not None else CheckFunctionJobApi(check)  # type: ignore[arg-type]


def poller_handler(check: CheckJob | None = None, *, jobs: Any = None, logger: Logger | None = None,
                   callbacks: TaskCallbacks | None = None,
                   poller: Callable[[], TokenPoller] | None = None,
                   metrics: str | None = metric_names.POLLER) -> Handler:
    """The per-job poller Lambda (``poc-poller``'s behaviour) for the job-status port ``check``, or ``jobs``
    (an object with ``check_status(job_id)`` and, optionally, ``check_record(record)``, e.g. ``HttpJobApi``).

    Its event is a schedule's ``{"jobId", "scheduledTime"}`` (one poll slot) or ``{"jobId"}`` (an extra poll);
    it returns ``{"status", "attempt", "maxAttempts", ...}``. ``poller`` builds the service instead (the PoC)."""
    log = logger or lambda_logger("poller")
    if poller is None:
        port = _job_port(check, jobs, "poller_handler")
        poller = functools.lru_cache(maxsize=1)(lambda: bootstrap.token_poller(port, callbacks))

    @log.inject_lambda_context(log_event=False)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        request: PollerEvent = parse(PollerEvent, event, "poller")
        if request.scheduled_time is not None and request.slot is None:
            log.warning("scheduledTime was not replaced by the scheduler; polling as a manual poll",
                        extra={"jobId": request.job_id})
        service = poller()
        service.log = lambda message, **fields: log.info(message, extra=fields)
        result = _measured(metrics, components.metered_poll,
                           lambda: service.poll(request.job_id, slot=request.slot, holder=_holder(context)).to_dict())
        log.info("poll finished", extra=result)
        return result

    return handler


def push_handler(receiver: Callable[[], PushReceiver], *, logger: Logger | None = None) -> Handler:
    """The push endpoint's Lambda behind a Function URL (payload format 2.0): a job API's signed notification
    that a job ended completes its token (see :mod:`sfn_callback.polling.application.push`). Neither the body
    nor the headers are logged (the signature is keyed with the job's secret)."""
    log = logger or lambda_logger("job-push")

    def handler(event: Any, context: Any) -> dict[str, Any]:
        service = receiver()
        service.log = lambda message, **fields: log.info(message, extra=fields)
        service.poller.log = service.log
        request_id = _holder(context)
        # A claim taken by a push names it (``push:<request id>``): a record shows which path called back.
        answer = service.handle_function_url(event, holder=f"{PUSH_HOLDER_PREFIX}{request_id or uuid.uuid4().hex}")
        log.info("push answered", extra={"statusCode": answer["statusCode"]})
        return answer

    return handler


def sweep_handler(check: CheckJob | None = None, *, jobs: Any = None, logger: Logger | None = None,
                  callbacks: TaskCallbacks | None = None,
                  sweeper: Callable[[], SweepPoller] | None = None,
                  metrics: str | None = metric_names.SWEEP) -> Handler:
    """The sweep poller Lambda (one schedule polls every due job of the token table) for ``check`` or
    ``jobs`` (as :func:`poller_handler`)."""
    log = logger or lambda_logger("sweep-poller")
    if sweeper is None:
        port = _job_port(check, jobs, "sweep_handler")
        sweeper = functools.lru_cache(maxsize=1)(lambda: bootstrap.sweep_poller(port, callbacks))

    def handler(event: Any, context: Any) -> dict[str, Any]:
        poller = sweeper()
        poller.log = lambda message, **fields: log.info(message, extra=fields)
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        time_left = (lambda: remaining() / 1000) if callable(remaining) else None
        result = _measured(metrics, components.metered_sweep,
                           lambda: poller.sweep(time_left=time_left, holder=_holder(context)))
        doc = result.to_dict()
        if result.due or result.adopted:
            log.info("sweep finished", extra=doc)
        return doc

    return handler


def create_job_handler(submit: SubmitJob | None = None, *, cancel: Callable[[str], None] | None = None,
                       jobs: JobCreator | None = None, logger: Logger | None = None,
                       service: Callable[[], CreateJobService] | None = None,
                       metrics: str | None = metric_names.CREATE_JOB) -> Handler:
    """The create-job Lambda (``poc-create-job``'s behaviour: the task's ``{"record", "taskToken",
    "executionId", "pollingConfig"}``) for the job-submitter port ``submit`` (``cancel``: undo a submitted job
    when its token record or schedule cannot be created), or ``jobs`` (an object with ``create_job(payload)``
    and ``cancel_job(job_id)``, e.g. ``HttpJobApi``). A submit that raises ``SubmitTransient`` is tried again
    within the invocation (see :class:`~sfn_callback.polling.application.create_job.SubmitRetry`)."""
    log = logger or lambda_logger("create-job")
    if service is None:
        if (submit is None) == (jobs is None):
            raise TypeError("create_job_handler needs a submit function or a jobs port (one of the two)")
        creator: JobCreator = jobs if jobs is not None else SubmitFunctionJobCreator(submit, cancel)  # type: ignore[arg-type]
        service = functools.lru_cache(maxsize=1)(lambda: bootstrap.create_job_service(creator))

    @log.inject_lambda_context(log_event=False)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        token = event.get("taskToken") if isinstance(event, dict) else None
        log.info("create-job request", extra={"taskToken": token})
        created = service()
        created.log = lambda message, **fields: log.info(message, extra=fields)
        # The submit's retries stop before the invocation's time runs out (see CreateJobService._submit).
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        time_left = (lambda: remaining() / 1000) if callable(remaining) else None
        result = _measured(metrics, components.metered_create_job, lambda: created.handle(event, time_left))
        log.info("task token stored; the workflow now waits for the callback",
                 extra={"jobId": result["jobId"], "taskToken": token})
        return result

    return handler
