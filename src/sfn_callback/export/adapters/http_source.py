"""FileSource over HTTP(S) with httpx: streamed download, timeouts, a size limit, clear errors."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from sfn_callback.export.application.ports import FileSourceError, ProgressCallback

DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class HttpFileSource:
    """Downloads ``http://`` and ``https://`` URLs.

    ``read_timeout`` bounds the wait for each chunk (a server that stops sending fails the task after it);
    ``max_bytes`` bounds the file (checked against ``Content-Length`` and while streaming).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        chunk_size: int = 64 * 1024,
        trust_env: bool = True,
        client: httpx.Client | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._chunk = chunk_size
        self._timeouts = (connect_timeout, read_timeout)
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=True,
            trust_env=trust_env,
            headers={"User-Agent": "sfn-callback-export/1"},
        )

    def fetch(self, url: str, on_progress: ProgressCallback | None = None) -> bytes:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FileSourceError(f"cannot download {url!r}: only absolute http:// and https:// URLs are supported")
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise FileSourceError(
                        f"GET {url} answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FileSourceError(
                        f"GET {url}: file is {int(declared)} bytes, larger than the limit of {self.max_bytes} bytes"
                    )
                body = bytearray()
                for chunk in response.iter_bytes(self._chunk):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FileSourceError(f"GET {url}: file exceeds the limit of {self.max_bytes} bytes")
                    if on_progress is not None:
                        on_progress(len(chunk))
                return bytes(body)
        except httpx.TimeoutException as exc:
            connect, read = self._timeouts
            raise FileSourceError(
                f"GET {url} timed out ({type(exc).__name__}; connect timeout {connect:g}s, read timeout {read:g}s)"
            ) from exc
        except httpx.HTTPError as exc:
            raise FileSourceError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._client.close()
