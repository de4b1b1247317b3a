"""The approval service: a FastAPI app (``create_app``), runnable under any ASGI server.

Endpoints (all JSON, all but ``/``, ``/static/*``, ``/health`` and ``/openapi.json`` need ``Authorization:
Bearer <key>``: none 401, unknown 403, checked before anything else of the request; see :mod:`guards` for the
order of the checks):

* ``GET /tasks?status=&limit=&cursor=``: a page of tasks in one status (Query on ``status-index``, oldest
  first) and an opaque ``nextCursor``;
* ``GET /tasks/{orderId}``;
* ``POST /tasks/{orderId}/approve`` ``{"output": <any JSON>, "reason": "..."}`` (body optional);
* ``POST /tasks/{orderId}/reject`` ``{"reason": "..."}``.

A decision answers 200 (delivered), 202 (recorded, callback outstanding: the service redelivers it), 404, 409
(already decided: the existing decision is in the body) or 410 (the token was already closed: recorded
TIMED_OUT, or CLOSED when the execution ended otherwise). No response ever contains a task token. Request bodies
over ``max_body_bytes`` are refused (413), bodies that are not ``application/json`` too (415), and bodies that
are not strict JSON (``NaN``, ``Infinity``, ``1e999``, invalid UTF-8, nested deeper than 64 levels) are 422,
before any claim. A listed or read PENDING task whose execution ended is reconciled first (see
:mod:`sfn_callback.approval.application.service`).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from sfn_callback.approval.adapters.dynamodb import InvalidCursor
from sfn_callback.approval.application.service import ApprovalService, Outcome
from sfn_callback.approval.domain.model import INSECURE_ACTOR, MAX_OUTPUT_BYTES, MAX_REASON_CHARS, Action, Status, iso
from sfn_callback.approval.entrypoints.auth import KeyRing
from sfn_callback.approval.entrypoints.guards import (
    Authenticate,
    BodySizeLimit,
    JsonBody,
    Refusal,
    SecurityHeaders,
    error_response,
)
from sfn_callback.common.logging import std_logger

log = std_logger("sfn_callback.approval.entrypoints.rest_app")

DEFAULT_MAX_BODY_BYTES = 64 * 1024
PATH_ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}$"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


# -- models ------------------------------------------------------------------------------------------------
class DecisionOut(BaseModel):
    action: Literal["APPROVE", "REJECT"]
    decidedBy: str
    decidedAt: str
    reason: str | None = None
    output: Any = None


class CallbackOut(BaseModel):
    state: Literal["SENDING", "SENT", "CLOSED"] | None = None
    attempts: int = 0
    sentAt: str | None = None
    lastError: str | None = None
    closedReason: str | None = None


class AuditOut(BaseModel):
    at: str
    actor: str
    event: str
    detail: str | None = None


class TaskOut(BaseModel):
    orderId: str
    status: Status
    transactionId: str
    startTime: str
    timeoutSeconds: int
    expiresAt: str
    ageSeconds: float
    timeLeftSeconds: float
    details: dict[str, Any]
    decision: DecisionOut | None = None
    callback: CallbackOut
    audit: list[AuditOut]


class TaskPage(BaseModel):
    items: list[TaskOut]
    nextCursor: str | None = None
    serverTime: str


class DecisionResponse(BaseModel):
    outcome: Literal["DECIDED", "DELIVERY_PENDING"]
    message: str
    task: TaskOut


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
    task: TaskOut | None = None


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    output: Any = Field(default=None,
                        description="Any JSON value; the workflow's Approved state carries it as decision.output.")
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS,
                               description="Why it was approved (audit trail).")

    @field_validator("output")
    @classmethod
    def _small(cls, value: Any) -> Any:
        try:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:  # NaN / Infinity are not JSON: Step Functions could not take the output
            raise ValueError(f"output is not JSON: {exc}") from None
        if len(text) > MAX_OUTPUT_BYTES:
            raise ValueError(f"output is larger than {MAX_OUTPUT_BYTES} bytes")
        return value


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=MAX_REASON_CHARS,
                        description="Why it was rejected; sent as the failure's cause and kept in the audit trail.")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reason must not be blank")
        return value.strip()


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    table: str
    tableReachable: bool


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request"},
    401: {"model": ErrorResponse, "description": "No Bearer key"},
    403: {"model": ErrorResponse, "description": "Unknown key"},
    413: {"model": ErrorResponse, "description": "Body too large"},
    422: {"model": ErrorResponse, "description": "Invalid request"},
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    415: {"model": ErrorResponse, "description": "The body is not sent as application/json"},
}
DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BODY_RESPONSES,
    202: {"model": DecisionResponse, "description": "Decision recorded; callback outstanding and redelivered by the service"},
    404: {"model": ErrorResponse, "description": "No such task"},
    409: {"model": ErrorResponse, "description": "Already decided (the existing decision is in `task`)"},
    410: {"model": ErrorResponse, "description": "Step Functions already closed the token (recorded TIMED_OUT, or "
                                                "CLOSED when the execution ended otherwise)"},
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, task: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.task, self.headers = status, code, message, task, headers


def create_app(service: ApprovalService, keys: KeyRing | None, *, insecure_local: bool = False,
               redeliver_interval: float | None = 2.0, reconcile_interval: float | None = 5.0,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, table_name: str = "") -> FastAPI:
    """The app. Without keys it refuses to exist unless ``insecure_local`` (every caller is then
    ``insecure-local``). The background loop redelivers outstanding callbacks every ``redeliver_interval``
    seconds (None: no loop) and, every ``reconcile_interval`` seconds, takes a page of PENDING tasks to
    reconcile those whose execution may have ended (None: only when tasks are read or listed)."""
    keys = keys or KeyRing()
    if not len(keys) and not insecure_local:
        raise RuntimeError("no API keys configured: set APPROVAL_API_KEYS or APPROVAL_API_KEYS_FILE "
                           "(or pass --insecure-local for a loopback-only trial)")
    stop = threading.Event()

    def redeliver_loop() -> None:
        reconciled = time.monotonic()
        while not stop.wait(redeliver_interval or 1.0):
            try:
                service.redeliver_pending()
            except Exception:  # keep the loop alive; the next round tries again
                log.exception("redelivery round failed")
            if reconcile_interval and time.monotonic() - reconciled >= reconcile_interval:
                reconciled = time.monotonic()
                try:
                    service.reconcile_pending()
                except Exception:
                    log.exception("reconciliation round failed")

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        thread = None
        if redeliver_interval:
            thread = threading.Thread(target=redeliver_loop, name="approval-redelivery", daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread:
                thread.join(timeout=5)

    app = FastAPI(
        title="Approval service",
        version="1.0.0",
        description="Approve or reject the tasks that poc-approval-workflow is waiting on (Step Functions task tokens). "
                    "Exactly one decision per task; task tokens never leave the service.",
        lifespan=lifespan,
    )
    app.state.service = service
    bearer = HTTPBearer(auto_error=False, description="An approver's API key")

    def verify(authorization: str | None) -> str:
        """The caller's name from an ``Authorization`` header; Refusal 401 (none) / 403 (unknown key)."""
        if insecure_local and not len(keys):
            return INSECURE_ACTOR
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Refusal(401, "unauthenticated", "missing Authorization: Bearer <key>",
                          headers={"WWW-Authenticate": "Bearer"})
        name = keys.verify(credentials.strip())
        if name is None:
            raise Refusal(403, "forbidden", "this key is not allowed")
        return name

    def actor(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        # Authenticate (in front of every route) has checked the key before the request was read; the bearer
        # dependency documents the scheme in the OpenAPI document.
        name = request.scope.get("state", {}).get("actor")
        if name is not None:
            return name
        try:
            return verify(request.headers.get("authorization"))
        except Refusal as refusal:
            raise ApiError(refusal.status, refusal.code, refusal.message, headers=refusal.headers) from None

    # -- errors ------------------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.task, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg')}")
        return error_response(422, "invalid_request", "; ".join(problems)[:2000] or "invalid request")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "the service could not complete the request; nothing was decided "
                                                     "unless GET /tasks/{orderId} shows a decision")

    # Outermost first: security headers on every answer, then authentication, then the body's size and JSON.
    app.add_middleware(JsonBody)
    app.add_middleware(BodySizeLimit, limit=max_body_bytes)
    app.add_middleware(Authenticate, verify=verify)
    app.add_middleware(SecurityHeaders, headers=SECURITY_HEADERS)

    def view(task: Any) -> dict[str, Any]:
        return task.view(service.now())

    # -- routes ------------------------------------------------------------------------------------------
    @app.get("/health", response_model=Health, tags=["service"], responses={503: {"model": Health}})
    def health() -> Any:
        reachable = service.repository.ping() if hasattr(service.repository, "ping") else True
        body = {"status": "ok" if reachable else "degraded", "table": table_name, "tableReachable": reachable}
        return body if reachable else JSONResponse(body, status_code=503)

    @app.get("/tasks", response_model=TaskPage, tags=["tasks"], responses=ERROR_RESPONSES)
    def list_tasks(
        status: Status = Query(Status.PENDING, description="Which tasks"),
        limit: int = Query(50, ge=1, le=100),
        cursor: str | None = Query(None, max_length=2048, description="nextCursor of the previous page"),
        who: str = Depends(actor),
    ) -> Any:
        try:
            tasks, next_cursor = service.list(status, limit, cursor or None)
        except InvalidCursor as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from exc
        now = service.now()
        return {"items": [t.view(now) for t in tasks], "nextCursor": next_cursor, "serverTime": iso(now)}

    @app.get("/tasks/{orderId}", response_model=TaskOut, tags=["tasks"],
             responses={**ERROR_RESPONSES, 404: {"model": ErrorResponse}})
    def get_task(orderId: str = Path(..., pattern=PATH_ORDER_ID), who: str = Depends(actor)) -> Any:
        task = service.get(orderId)
        if task is None:
            raise ApiError(404, "not_found", f"no task for order {orderId!r}")
        return view(task)

    def decide(order_id: str, action: Action, who: str, reason: str | None, output: Any) -> Any:
        result = service.decide(order_id, action, who, reason=reason, output=output)
        if result.outcome is Outcome.NOT_FOUND:
            raise ApiError(404, "not_found", f"no task for order {order_id!r}")
        decided = result.task
        assert decided is not None  # every outcome but NOT_FOUND carries the task
        task = view(decided)
        if result.outcome is Outcome.ALREADY_DECIDED:
            existing = decided.decision
            by = f" by {existing.actor} at {task['decision']['decidedAt']}" if existing else ""
            raise ApiError(409, "already_decided", f"order {order_id!r} is already {decided.status.value}{by}", task)
        if result.outcome is Outcome.CLOSED:
            raise ApiError(410, "token_closed", f"Step Functions already closed the task of order {order_id!r} "
                                                f"({decided.closed_reason or 'timed out'}); recorded "
                                                f"{decided.status.value}", task)
        if result.outcome is Outcome.DELIVERY_PENDING:
            return JSONResponse(status_code=202, content={
                "outcome": "DELIVERY_PENDING", "task": task,
                "message": "decision recorded; the callback to Step Functions is not confirmed yet and is being redelivered"})
        return {"outcome": "DECIDED", "message": f"order {order_id!r} {decided.status.value}", "task": task}

    @app.post("/tasks/{orderId}/approve", response_model=DecisionResponse, tags=["decisions"],
              responses=DECISION_RESPONSES)
    def approve(orderId: str = Path(..., pattern=PATH_ORDER_ID), body: ApproveBody | None = None,
                who: str = Depends(actor)) -> Any:
        body = body or ApproveBody()
        return decide(orderId, Action.APPROVE, who, body.reason, body.output)

    @app.post("/tasks/{orderId}/reject", response_model=DecisionResponse, tags=["decisions"],
              responses=DECISION_RESPONSES)
    def reject(body: RejectBody, orderId: str = Path(..., pattern=PATH_ORDER_ID), who: str = Depends(actor)) -> Any:
        return decide(orderId, Action.REJECT, who, body.reason, None)

    # -- the page ----------------------------------------------------------------------------------------
    web = resources.files("sfn_callback.approval").joinpath("web")
    assets = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(web.joinpath("index.html").read_bytes(), media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in assets:
            raise ApiError(404, "not_found", "no such file")
        return Response(web.joinpath(name).read_bytes(), media_type=assets[name],
                        headers={"Cache-Control": "no-cache"})

    return app
