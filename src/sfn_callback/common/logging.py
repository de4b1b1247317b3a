"""Logging with task tokens masked once, in the setup, so that no log line can forget it.

:func:`lambda_logger` gives a Powertools ``Logger`` whose formatter masks; :func:`std_logger` (and
:class:`TokenMaskingFilter` for a handler) does the same for code outside Lambda that uses the standard
``logging`` module (the approval service). What is masked, in the message and in every field, nested or not:

* the value of any field whose name ends with ``token`` (``taskToken``, ``task_token``, ``TaskToken``...), as
  :func:`~sfn_callback.common.tokens.mask_token` shows it (``AAAAKgAA...********...AAAA``);
* any token-shaped substring: AWS's task tokens are long base64 strings (hundreds of characters of
  ``A-Za-z0-9+/=``, starting ``AAAA``): any run of 80 or more such characters is masked;
* the local cloud's (moto's) tokens are UUIDs, which are also request and execution ids, so a UUID is masked
  where it is labelled as a token (``token: <uuid>``, ``token=<uuid>``, ``"taskToken": "<uuid>"``) and wherever a
  token the process has already seen (logged in a token field, or sent through the callback core: see
  :func:`remember_token`) appears again.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from sfn_callback.common.tokens import mask_token

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.types import LogRecord

__all__ = ["TokenMaskingFilter", "TokenMaskingFormatter", "lambda_logger", "mask_text", "mask_fields",
           "remember_token", "std_logger", "dumps_masked"]

_AWS_SHAPED = re.compile(r"[A-Za-z0-9+/=_-]{80,}")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_LABELLED_UUID = re.compile(rf"(?i)(token[\"']?\s*[:=]?\s*[\"']?\s*)({_UUID})")
_REMEMBERED_MAX = 2048
_remembered: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def _is_token_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().endswith("token")


def remember_token(token: str | None) -> None:
    """Mask ``token`` wherever it appears in later log lines of this process (the callback core calls this for
    every token it sends; a token logged in a token field is remembered too)."""
    if not isinstance(token, str) or len(token) < 8:
        return
    with _lock:
        _remembered[token] = None
        _remembered.move_to_end(token)
        while len(_remembered) > _REMEMBERED_MAX:
            _remembered.popitem(last=False)


def mask_text(text: str) -> str:
    """``text`` with every token-shaped or known token substring masked."""
    if not text:
        return text
    with _lock:
        known = [t for t in _remembered if t in text]
    for token in known:
        text = text.replace(token, mask_token(token))
    text = _AWS_SHAPED.sub(lambda m: mask_token(m.group(0)), text)
    return _LABELLED_UUID.sub(lambda m: m.group(1) + mask_token(m.group(2)), text)


def mask_fields(value: Any, _key: object = None, _depth: int = 0) -> Any:
    """A copy of a log document with token fields and token-shaped strings masked (dicts, lists, strings)."""
    if _depth > 20:
        return value
    if isinstance(value, str):
        if _is_token_key(_key) and not value.startswith("<") and "********" not in value:
            remember_token(value)
            return mask_token(value)
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_fields(v, k, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_fields(v, _key, _depth + 1) for v in value]
    return value


class TokenMaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with task tokens masked: fields by name before serialising, then every
    substring of the line (so values that serialise through ``str()`` are covered as well)."""

    def serialize(self, log: LogRecord) -> str:
        return mask_text(super().serialize(mask_fields(log)))


def lambda_logger(service: str, **options: Any) -> Logger:
    """A Powertools ``Logger`` for ``service`` whose every line has task tokens masked."""
    options.setdefault("logger_formatter", TokenMaskingFormatter())
    log = Logger(service=service, **options)
    std_logger(log.name)  # the record itself is masked too, for every handler it reaches (on the logger it wraps)
    return log


class TokenMaskingFilter(logging.Filter):
    """A standard ``logging`` filter that masks task tokens in the message, its arguments and extra fields."""

    _STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(vars(record).items()):
            if key not in self._STANDARD and (isinstance(value, (str, dict, list, tuple))):
                setattr(record, key, mask_fields(value, key))
        if isinstance(record.msg, (dict, list)):  # Powertools logs a dict as a JSON object
            record.msg = mask_fields(record.msg)
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = mask_text(message), None
        return True


def std_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`TokenMaskingFilter` installed (once)."""
    log = logging.getLogger(name)
    if not any(isinstance(f, TokenMaskingFilter) for f in log.filters):
        log.addFilter(_FILTER)
    return log


def dumps_masked(doc: Any) -> str:
    """``json.dumps`` of ``doc`` with task tokens masked (for a line printed outside a logger)."""
    return mask_text(json.dumps(mask_fields(doc), default=str))


_FILTER = TokenMaskingFilter()
