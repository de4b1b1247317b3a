"""The reference job service's HTTP API (FastAPI). Every route but ``/health`` needs ``Authorization: Bearer
<key>``.

* ``POST /jobs`` (body: the job's behaviour, see :mod:`sfn_callback.jobapi.domain.jobs`) -> 201 ``{"id",
  "state", "checks"}``; a body that is not a behaviour is 422 naming the field; with ``Idempotency-Key``, the
  same key and body again -> 200, the same job (``Idempotent-Replayed: true``), another body -> 422
  ``IdempotencyKeyReused``; the behaviour's ``submitAnswers`` script 429 / 5xx / slow submits;
* ``GET /submits`` -> every submit by what it got (``created``, ``replayed``, ``throttled``, ``errors``,
  ``slow``, ``conflicts``), the keys kept, the jobs;
* ``GET /jobs/{id}`` -> ``{"id", "state": queued | running | succeeded | failed | cancelled, "checks",
  "result" | "error"}``, or what the job's behaviour scripts (429 with ``Retry-After``, 5xx, a slow answer);
  unknown id 404;
* ``DELETE /jobs/{id}`` -> 204 (cancel);
* ``GET /jobs/{id}/served`` -> what the job's status requests got, by kind (``real``, ``throttled``,
  ``errors``, ``slow``, ``unauthorized``);
* ``PUT /keys`` ``{"keys": [...]}`` -> the accepted keys replaced (rotation: the old key stops working);
* ``GET /health`` -> ``{"status": "ok", "jobs": n}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from sfn_callback.jobapi.application.service import JobService, KeyReused, UnknownJob


def _key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": "missing or wrong bearer key"}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})


def _unknown(job_id: str) -> JSONResponse:
    return JSONResponse({"error": f"no job {job_id!r}"}, status_code=404)


def create_app(service: JobService) -> FastAPI:
    app = FastAPI(title="sfn-callback reference job API", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "jobs": len(service.jobs)}

    @app.post("/jobs", status_code=201, response_model=None)
    async def create(request: Request) -> Any:
        if not service.authorized(_key(request)):
            return _unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=422)
        try:
            answer = service.submit(body, request.headers.get("idempotency-key"))
        except ValidationError as exc:
            errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
            return JSONResponse({"error": "not a job behaviour", "details": errors}, status_code=422)
        except KeyReused as exc:
            return JSONResponse({"error": "IdempotencyKeyReused", "message": str(exc)}, status_code=422)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    @app.get("/submits", response_model=None)
    def submits(request: Request) -> Any:
        if not service.authorized(_key(request)):
            return _unauthorized()
        return service.submitted()

    @app.get("/jobs/{job_id}", response_model=None)
    async def status(job_id: str, request: Request) -> Any:
        if not service.authorized(_key(request), job_id):
            return _unauthorized()
        try:
            answer = service.status(job_id)
        except UnknownJob:
            return _unknown(job_id)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    @app.delete("/jobs/{job_id}", response_model=None)
    def cancel(job_id: str, request: Request) -> Any:
        if not service.authorized(_key(request), job_id):
            return _unauthorized()
        try:
            service.cancel(job_id)
        except UnknownJob:
            return _unknown(job_id)
        return Response(status_code=204)

    @app.get("/jobs/{job_id}/served", response_model=None)
    def served(job_id: str, request: Request) -> Any:
        if not service.authorized(_key(request)):
            return _unauthorized()
        try:
            return service.served(job_id)
        except UnknownJob:
            return _unknown(job_id)

    @app.put("/keys", response_model=None)
    async def rotate(request: Request) -> Any:
        if not service.authorized(_key(request)):
            return _unauthorized()
        try:
            body = await request.json()
            count = service.rotate(body.get("keys") if isinstance(body, dict) else None)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return {"keys": count}

    return app
