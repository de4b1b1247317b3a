"""Helpers of the monitoring tests: the aws CLI, an HTTP endpoint on 127.0.0.1, time on period boundaries.

Imported as ``from monitoring_support import ...`` (pytest puts this directory on ``sys.path``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def aws(local_cloud: Any, *args: str, check: bool = True) -> Any:
    """The aws CLI v2 against the local cloud; the parsed JSON output (or the completed process if not ``check``)."""
    found = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else shutil.which("aws")
    if not found:
        pytest.fail("no aws CLI: scripts/ensure-test-tools.sh installs Debian's awscli (v2)")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    done = subprocess.run([found, "--endpoint-url", local_cloud.endpoint_url, "--output", "json", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_boundary(period: int, at_least_ago: float = 2.0) -> float:
    """The latest period boundary that is at least ``at_least_ago`` seconds in the past."""
    return math.floor((time.time() - at_least_ago) / period) * period


def health(local_cloud: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{local_cloud.endpoint_url}/health", timeout=5) as response:
        return json.loads(response.read())


class HttpEndpoint:
    """An HTTP endpoint on 127.0.0.1 that records each POST (headers, JSON body) and answers ``status_for``."""

    def __init__(self, status_for: Callable[[dict[str, str], dict[str, Any]], int] | None = None) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status_for = status_for or (lambda headers, body: 200)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the HTTP verb
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode("utf-8", "replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["__names__"] = ",".join(self.headers.keys())
                endpoint.posts.append((headers, body))
                self.send_response(endpoint.status_for(headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/sns"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def of_type(self, kind: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(h, b) for h, b in self.posts if b.get("Type") == kind]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
