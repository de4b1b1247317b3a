"""Where the reference job service's bearer keys come from: a file (one key a line, re-read when it changes) or
the environment (``SFN_CALLBACK_JOB_API_KEYS``, comma-separated)."""

from __future__ import annotations

import hmac
import os
import threading
from pathlib import Path

KEYS_ENV = "SFN_CALLBACK_JOB_API_KEYS"


class FileOrEnvKeys:
    def __init__(self, path: Path | None = None, keys: list[str] | None = None):
        self.path = path
        self._keys: list[str] = list(keys or [])
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        if path is None and not self._keys:
            self._keys = [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
        if path is not None:
            self._reload()
        if not self._keys:
            raise ValueError(f"no API keys: give --keys-file or set {KEYS_ENV}")

    def _reload(self) -> None:
        assert self.path is not None
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._keys = [line.strip() for line in self.path.read_text().splitlines() if line.strip()]
            self._stamp = stamp

    def accepts(self, key: str) -> bool:
        with self._lock:
            if self.path is not None:
                self._reload()
            return any(hmac.compare_digest(key.encode(), k.encode()) for k in self._keys)

    def replace(self, keys: list[str]) -> None:
        with self._lock:
            self._keys = list(keys)
            if self.path is not None:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text("\n".join(keys) + "\n")
                os.chmod(tmp, 0o600)
                tmp.replace(self.path)
                stat = self.path.stat()
                self._stamp = (stat.st_mtime_ns, stat.st_size)
