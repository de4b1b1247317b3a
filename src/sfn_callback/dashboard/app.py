"""The dashboard's web app (FastAPI): the page, its script and style, and the JSON document the page polls.

``GET /`` the page; ``GET /static/{app.js,style.css}``; ``GET /api/dashboard`` the document of
:class:`~sfn_callback.dashboard.collect.Collector` (always 200: a target that cannot be reached or an API that
refuses is an ``error`` in the document, shown on the page); ``GET /health``. Unknown paths are 404 JSON.
Nothing on the page is fetched from anywhere but this server (no CDN): the graphs are SVG drawn by the script.

Documents are cached for ``min_interval`` seconds, so several open pages cost the target one collection.
"""

from __future__ import annotations

import threading
import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sfn_callback.dashboard.collect import Collector

ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


class CachedCollector:
    """One collection at a time; a document younger than ``min_interval`` seconds is served again."""

    def __init__(self, collector: Collector, min_interval: float) -> None:
        self.collector = collector
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._doc: dict[str, Any] | None = None
        self._at = 0.0

    def get(self) -> dict[str, Any]:
        with self._lock:
            if self._doc is None or time.monotonic() - self._at >= self.min_interval:
                self._doc = self.collector.snapshot()
                self._at = time.monotonic()
            return self._doc


def create_app(collector: Collector, *, refresh_seconds: float = 5.0) -> FastAPI:
    app = FastAPI(title="sfn-callback dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    cache = CachedCollector(collector, min_interval=max(0.2, refresh_seconds / 2))
    web = resources.files("sfn_callback.dashboard").joinpath("web")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": {"status": exc.status_code, "message": str(exc.detail)}},
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a last resort
        return JSONResponse({"error": {"status": 500, "message": f"{type(exc).__name__}: {exc}"}}, status_code=500)

    @app.get("/")
    def index() -> Response:
        page = web.joinpath("index.html").read_text(encoding="utf-8")
        page = page.replace("{{REFRESH_MS}}", str(int(refresh_seconds * 1000)))
        return Response(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            return JSONResponse({"error": {"status": 404, "message": f"no such file: {name}"}}, status_code=404)
        return Response(web.joinpath(name).read_bytes(), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.get("/api/dashboard")
    def dashboard() -> JSONResponse:
        return JSONResponse(cache.get(), headers={"Cache-Control": "no-store"})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "target": collector.target.endpoint_url or "aws"}

    return app
