"""HttpFileSource against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sfn_callback.export.adapters import HttpFileSource
from sfn_callback.export.application import FileSourceError

BIG = b"x" * 200_000


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path == "/hello.csv":
            self._send(200, b"id,name\n1,alice\n")
        elif self.path == "/big.bin":
            self._send(200, BIG)
        elif self.path == "/undeclared-big":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BIG)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello.csv")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"12345")
            self.wfile.flush()
            time.sleep(1.0)  # longer than the client's read timeout
        else:
            self._send(404, b"nope")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def source() -> Iterator[HttpFileSource]:
    src = HttpFileSource(connect_timeout=2, read_timeout=0.3, max_bytes=100_000, trust_env=False, chunk_size=4096)
    yield src
    src.close()


def test_downloads_and_reports_progress(source, base_url) -> None:
    progress: list[int] = []
    assert source.fetch(f"{base_url}/hello.csv", on_progress=progress.append) == b"id,name\n1,alice\n"
    assert sum(progress) == 16


def test_follows_redirects(source, base_url) -> None:
    assert source.fetch(f"{base_url}/redirect").startswith(b"id,name")


def test_http_error_is_clear(source, base_url) -> None:
    with pytest.raises(FileSourceError, match=r"GET .*/missing answered HTTP 404 Not Found"):
        source.fetch(f"{base_url}/missing")


def test_size_limit_from_content_length_and_while_streaming(source, base_url) -> None:
    with pytest.raises(FileSourceError, match="200000 bytes, larger than the limit of 100000"):
        source.fetch(f"{base_url}/big.bin")
    with pytest.raises(FileSourceError, match="exceeds the limit of 100000 bytes"):
        source.fetch(f"{base_url}/undeclared-big")


def test_read_timeout(source, base_url) -> None:
    with pytest.raises(FileSourceError, match="timed out .*read timeout 0.3s"):
        source.fetch(f"{base_url}/slow")


def test_connection_refused_and_bad_urls(source) -> None:
    with pytest.raises(FileSourceError, match="failed: ConnectError"):
        source.fetch("http://127.0.0.1:9/none")
    for url in ("ftp://host/file", "file:///etc/passwd", "relative/path"):
        with pytest.raises(FileSourceError, match="only absolute http"):
            source.fetch(url)
