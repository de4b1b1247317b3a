"""API keys: named Bearer keys from the environment or a file, checked in constant time.

* ``APPROVAL_API_KEYS="alice=<key>,bob=<key>"``, and/or
* ``APPROVAL_API_KEYS_FILE=/path`` (or ``--keys-file``): a JSON object ``{"alice": "<key>"}`` or lines
  ``alice=<key>`` (blank lines and ``#`` comments ignored).

The key's *name* is what the audit trail records as the approver. Keys must be at least 16 characters. A
presented key is hashed and compared with every configured key's hash with ``hmac.compare_digest``, without
stopping at a match, so the time taken says nothing about which key (or how much of one) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEYS_ENV = "APPROVAL_API_KEYS"
KEYS_FILE_ENV = "APPROVAL_API_KEYS_FILE"
MIN_KEY_LENGTH = 16
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class KeyConfigError(ValueError):
    """The key configuration is unusable; the message says what to fix (never the key itself)."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class KeyRing:
    _entries: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_mapping(cls, keys: Mapping[str, str], source: str = "configuration") -> KeyRing:
        seen: dict[bytes, str] = {}
        entries = []
        for name, secret in keys.items():
            if not isinstance(name, str) or not NAME_PATTERN.match(name):
                raise KeyConfigError(f"{source}: key name {name!r} must match {NAME_PATTERN.pattern}")
            if not isinstance(secret, str) or len(secret) < MIN_KEY_LENGTH:
                raise KeyConfigError(f"{source}: the key of {name!r} must be a string of at least {MIN_KEY_LENGTH} characters")
            if secret != secret.strip() or any(c.isspace() for c in secret):
                raise KeyConfigError(f"{source}: the key of {name!r} must not contain whitespace")
            digest = _digest(secret)
            if digest in seen:
                raise KeyConfigError(f"{source}: {name!r} and {seen[digest]!r} have the same key")
            seen[digest] = name
            entries.append((name, digest))
        return cls(tuple(entries))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._entries]

    def verify(self, presented: str) -> str | None:
        """The name of the key ``presented`` is, or None; constant time in the number of keys."""
        digest = _digest(presented)
        found: str | None = None
        for name, expected in self._entries:
            if hmac.compare_digest(digest, expected):
                found = name
        return found


def parse_pairs(text: str, source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, raw in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise KeyConfigError(f"{source}: entry {number} is not name=key")
        name, _, secret = line.partition("=")
        name, secret = name.strip(), secret.strip()
        if name in out:
            raise KeyConfigError(f"{source}: key name {name!r} appears twice")
        out[name] = secret
    return out


def load_file(path: str | os.PathLike[str]) -> dict[str, str]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyConfigError(f"cannot read the keys file {p}: {exc.strerror or exc}") from exc
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyConfigError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(doc, dict):
            raise KeyConfigError(f"{p}: expected a JSON object of name: key")
        return doc
    return parse_pairs(text, str(p))


def load_keys(keys_file: str | None = None, environ: Mapping[str, str] | None = None) -> KeyRing:
    """Keys from ``keys_file`` (or ``$APPROVAL_API_KEYS_FILE``) and ``$APPROVAL_API_KEYS``; may be empty."""
    env = os.environ if environ is None else environ
    merged: dict[str, str] = {}
    path = keys_file or env.get(KEYS_FILE_ENV)
    if path:
        merged.update(load_file(path))
    inline = env.get(KEYS_ENV, "")
    if inline.strip():
        for name, secret in parse_pairs(inline, KEYS_ENV).items():
            if name in merged:
                raise KeyConfigError(f"key name {name!r} is configured both in the file and in {KEYS_ENV}")
            merged[name] = secret
    return KeyRing.from_mapping(merged, source=path or KEYS_ENV)
