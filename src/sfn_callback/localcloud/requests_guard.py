"""Checks in front of moto's server for requests in AWS's JSON protocol (``X-Amz-Target``).

moto parses a JSON-protocol request on trust: a body that is not JSON, not an object, of the wrong types,
missing a required member, nested 100,000 deep, 10 MB long or naming an operation the service does not have
raised inside moto and came back as an HTML ``500 Internal Server Error``. AWS answers each with a JSON 4xx,
and so does the local cloud, before moto sees the request:

========================================  ===========================================================
what is wrong                             answer
========================================  ===========================================================
body over the service's request limit     413 ``RequestEntityTooLargeException``
an operation the service does not have    400 ``UnknownOperationException``
not UTF-8, not JSON, ``NaN``, ``1e999``,  400 ``SerializationException``
not an object, nested too deep, a member
of the wrong JSON type
a required member missing, a length,      400 ``ValidationException`` (every problem named, as AWS does)
count, range or enum constraint broken
========================================  ===========================================================

The operation's input shape comes from botocore's service model (the same one boto3 validates against),
so the rules are AWS's, not a copy. Services: the JSON-protocol ones the local cloud serves (Step Functions,
DynamoDB, SQS, CloudWatch Logs, EventBridge), picked by the signing name in the request's credential scope as
moto does. What moto still fails on is answered in JSON and logged, so a client never has to parse HTML: an
operation AWS has and moto does not implement is 501 ``NotImplemented`` (not retried by SDKs, unlike a 500),
anything else 500 ``InternalFailure``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import uuid
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("sfn_callback.localcloud")

JSON_SERVICES = ("stepfunctions", "dynamodb", "sqs", "logs", "events")
MAX_REQUEST_BYTES = {"dynamodb": 16 * 1024 * 1024}  # DynamoDB's request limit (BatchWriteItem)
DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024  # Step Functions, SQS (1 MiB payloads), Logs, EventBridge
MAX_DEPTH = 100  # nesting of the operation's input; a DynamoDB item nests at most 32 levels (~70 here)
DRAIN_LIMIT = 64 * 1024 * 1024  # a refused body up to this size is read off the connection, keeping it usable
MAX_PROBLEMS = 10

_models: dict[str, Any] | None = None


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _models_by_signing_name() -> dict[str, Any]:
    global _models
    if _models is None:
        import botocore.session

        session = botocore.session.get_session()
        models = {}
        for name in JSON_SERVICES:
            model = session.get_service_model(name)
            if model.protocol == "json":
                models[model.signing_name] = model
        _models = models
    return _models


def _signing_name(environ: dict[str, Any]) -> str | None:
    from sfn_callback.localcloud.metering import service_from_authorization

    return service_from_authorization(environ.get("HTTP_AUTHORIZATION"))


# -- the body ----------------------------------------------------------------------------------------------
def _read_body(environ: dict[str, Any], limit: int, service: str) -> bytes:
    stream = environ.get("wsgi.input") or io.BytesIO()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused(400, "SerializationException", "Content-Length is not a number") from None
    if length > limit:
        _drain(stream, length)
        raise Refused(413, "RequestEntityTooLargeException",
                      f"request of {length} bytes is larger than {service}'s limit of {limit} bytes")
    if length:
        return stream.read(length)
    if environ.get("wsgi.input_terminated"):  # chunked: read to the end, but no more than the limit
        body = stream.read(limit + 1)
        if len(body) > limit:
            _drain(stream, DRAIN_LIMIT)
            raise Refused(413, "RequestEntityTooLargeException",
                          f"request is larger than {service}'s limit of {limit} bytes")
        return body
    return b""


def _drain(stream: Any, length: int) -> None:
    left = min(length, DRAIN_LIMIT)
    while left > 0:
        chunk = stream.read(min(left, 1024 * 1024))
        if not chunk:
            break
        left -= len(chunk)


def parse(body: bytes) -> dict[str, Any]:
    """The request document in strict JSON (RFC 8259), or ``Refused(SerializationException)``."""
    if not body.strip():
        return {}  # AWS takes an empty body as an empty input structure
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "SerializationException", f"the body is not UTF-8 (invalid byte at {exc.start})") from None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(f"number {literal[:40]} is out of range")
        return value

    try:
        document = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except RecursionError:  # deeper than Python's parser goes (~1,000 levels)
        raise Refused(400, "SerializationException", f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, our checks, an integer too long to convert
        raise Refused(400, "SerializationException", f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Refused(400, "SerializationException",
                      f"the body must be a JSON object (the operation's input), not {_kind(document)}")
    return document


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


# -- the input shape ---------------------------------------------------------------------------------------
# The JSON types each shape type takes on the wire (JSON decodes to exactly these; bool is not an int here).
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "blob": (str,), "boolean": (bool,), "integer": (int,), "long": (int,), "float": (int, float),
    "double": (int, float), "timestamp": (int, float, str), "structure": (dict,), "map": (dict,), "list": (list,),
}
_EXPECTED = {"string": "a string", "blob": "a base64 string", "boolean": "a boolean", "integer": "an integer",
             "long": "an integer", "float": "a number", "double": "a number", "timestamp": "a timestamp",
             "structure": "an object", "map": "an object", "list": "an array"}


class _Spec:
    """A shape compiled for the common case, a request that is fine: one pass, no messages."""

    __slots__ = ("kind", "types", "enum", "lo", "hi", "sized", "document", "required", "members", "member", "key",
                 "value", "plain")

    def __init__(self, shape: Any):
        meta = shape.metadata
        self.kind = shape.type_name
        self.document = bool(getattr(shape, "is_document_type", False))
        self.types = _TYPES.get(self.kind)
        self.enum = frozenset(meta["enum"]) if self.kind == "string" and "enum" in meta else None
        self.lo, self.hi = meta.get("min"), meta.get("max")
        self.sized = self.kind in ("string", "blob", "list", "map")
        self.required: tuple[str, ...] = tuple(shape.required_members) if self.kind == "structure" else ()
        self.members: dict[str, _Spec] = {}
        self.member: _Spec | None = None  # a list's (set by _spec)
        self.key: _Spec | None = None  # a map's key and value (set by _spec)
        self.value: _Spec | None = None
        # A leaf whose only rule is its JSON type (most members): its types, checked inline without a call.
        self.plain = self.types if (self.enum is None and self.lo is None and self.hi is None
                                    and self.kind not in ("structure", "list", "map", "blob")
                                    and not self.document) else None


_SPECS: dict[tuple[str, str], _Spec] = {}


def _spec(service: str, shape: Any) -> _Spec:
    key = (service, shape.name)
    spec = _SPECS.get(key)
    if spec is None:
        spec = _SPECS[key] = _Spec(shape)  # cached before its children: shapes may be recursive
        if spec.kind == "structure":
            spec.members = {name: _spec(service, member) for name, member in shape.members.items()}
        elif spec.kind == "list":
            spec.member = _spec(service, shape.member)
        elif spec.kind == "map":
            spec.key, spec.value = _spec(service, shape.key), _spec(service, shape.value)
    return spec


def _fine(spec: _Spec, value: Any, depth: int) -> bool:
    """True if ``value`` breaks nothing of ``spec`` (no type, constraint, base64 or depth problem)."""
    if spec.document:
        return True
    if depth > MAX_DEPTH or (spec.types is not None and type(value) not in spec.types):
        return False
    if spec.sized:
        size = len(value)
        if (spec.lo is not None and size < spec.lo) or (spec.hi is not None and size > spec.hi):
            return False
    elif spec.lo is not None or spec.hi is not None:
        if type(value) in (int, float) and ((spec.lo is not None and value < spec.lo)
                                            or (spec.hi is not None and value > spec.hi)):
            return False
    if spec.enum is not None and value not in spec.enum:
        return False
    kind = spec.kind
    if kind == "structure":
        for name in spec.required:
            if value.get(name) is None:
                return False
        members = spec.members
        for name, item in value.items():
            child = members.get(name)
            if child is None or item is None:
                continue
            if child.plain:
                if type(item) not in child.plain:
                    return False
            elif not _fine(child, item, depth + 1):
                return False
    elif kind == "list":
        child = spec.member
        assert child is not None  # compiled with the list
        for item in value:
            if item is None:
                continue
            if child.plain:
                if type(item) not in child.plain:
                    return False
            elif not _fine(child, item, depth + 1):
                return False
    elif kind == "map":
        key_spec, child = spec.key, spec.value
        assert key_spec is not None and child is not None  # compiled with the map
        for key, item in value.items():
            if not _fine(key_spec, key, depth + 1) or (item is not None and not _fine(child, item, depth + 1)):
                return False
    elif kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
    return True


def check_input(shape: Any, document: dict[str, Any], service: str = "") -> None:
    """Types, base64 and depth (SerializationException) first, then constraints (ValidationException, every
    problem named), as AWS reports them. A fine request is checked in one quick pass; only a request with a
    problem is walked again to name it."""
    if shape is None or _fine(_spec(service, shape), document, 1):
        return
    problems: list[str] = []
    _walk(shape, document, "", problems, 1)
    if problems:
        count = len(problems)
        shown = "; ".join(problems[:MAX_PROBLEMS])
        raise Refused(400, "ValidationException",
                      f"{count} validation error{'s' if count > 1 else ''} detected: {shown}")


def _walk(shape: Any, value: Any, where: str, problems: list[str], depth: int) -> None:
    if shape is None or getattr(shape, "is_document_type", False):
        return
    if depth > MAX_DEPTH:
        raise Refused(400, "SerializationException", f"the body is nested deeper than {MAX_DEPTH} levels")
    kind = shape.type_name
    if kind in _TYPES and type(value) not in _TYPES[kind]:
        raise Refused(400, "SerializationException",
                      f"expected {_EXPECTED[kind]} at '{where or '(the body)'}', got {_kind(value)}")
    if kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "SerializationException", f"'{where}' is not valid base64") from None
    _constraints(shape, value, where, problems)
    if kind == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(f"Value null at '{_join(where, name)}' failed to satisfy constraint: "
                                "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _walk(member, value[name], _join(where, name), problems, depth + 1)
    elif kind == "list":
        for index, item in enumerate(value):
            if item is not None:
                _walk(shape.member, item, f"{where}.{index + 1}.member", problems, depth + 1)
    elif kind == "map":
        for key, item in value.items():
            _walk(shape.key, key, f"{where}.{key}.key", problems, depth + 1)
            if item is not None:
                _walk(shape.value, item, f"{where}.{key}.value", problems, depth + 1)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _constraints(shape: Any, value: Any, where: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    shown = _show(value)
    if kind == "string" and "enum" in meta and value not in meta["enum"]:
        problems.append(f"Value {shown} at '{where}' failed to satisfy constraint: Member must satisfy enum value "
                        f"set: [{', '.join(meta['enum'])}]")
    if kind in ("string", "blob", "list", "map"):
        size = len(value)
        what = "length" if kind in ("string", "blob") else "length"
        if "min" in meta and size < meta["min"]:
            problems.append(f"Value {shown} at '{where}' failed to satisfy constraint: Member must have {what} "
                            f"greater than or equal to {meta['min']}")
        if "max" in meta and size > meta["max"]:
            problems.append(f"Value at '{where}' failed to satisfy constraint: Member must have {what} less than "
                            f"or equal to {meta['max']}")
    elif kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            problems.append(f"Value {shown} at '{where}' failed to satisfy constraint: Member must have value "
                            f"greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            problems.append(f"Value {shown} at '{where}' failed to satisfy constraint: Member must have value "
                            f"less than or equal to {meta['max']}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value[:64]}{'...' if len(value) > 64 else ''}'"
    if isinstance(value, (list, dict)):
        return f"[{len(value)} entries]"
    return str(value)[:64]


# -- the WSGI side -----------------------------------------------------------------------------------------
def check(environ: dict[str, Any]) -> None:
    """Raise :class:`Refused` for a malformed JSON-protocol request; otherwise leave the body re-readable."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if not target or environ.get("REQUEST_METHOD") != "POST":
        return
    model = _models_by_signing_name().get(_signing_name(environ) or "")
    if model is None:
        return  # not a JSON-protocol service of the local cloud's: moto decides
    prefix, _, operation = target.partition(".")
    if prefix != model.metadata.get("targetPrefix") or operation not in model.operation_names:
        raise Refused(400, "UnknownOperationException", f"{model.service_id} has no operation {target!r}")
    limit = MAX_REQUEST_BYTES.get(model.service_name, DEFAULT_MAX_REQUEST_BYTES)
    body = _read_body(environ, limit, model.service_id)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    check_input(model.operation_model(operation).input_shape, parse(body), model.service_name)


def _error(start_response: Any, status: int, code: str, message: str, content_type: str,
           close: bool = False) -> list[bytes]:
    namespace = "com.amazon.coral.validate" if code == "ValidationException" else "com.amazon.coral.service"
    body = json.dumps({"__type": f"{namespace}#{code}", "message": message}).encode()
    reason = {400: "Bad Request", 413: "Request Entity Too Large", 500: "Internal Server Error",
              501: "Not Implemented"}.get(status, "Error")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
               ("x-amzn-RequestId", str(uuid.uuid4())), ("x-amzn-ErrorType", code)]
    if close:
        headers.append(("Connection", "close"))
    start_response(f"{status} {reason}", headers)
    return [body]


def serve(moto_app: Callable[..., Iterable[bytes]], environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """moto's app behind the checks; JSON-protocol errors are JSON, never HTML."""
    if not environ.get("HTTP_X_AMZ_TARGET"):
        return moto_app(environ, start_response)
    content_type = environ.get("CONTENT_TYPE") or "application/x-amz-json-1.0"
    if not content_type.startswith("application/x-amz-json"):
        content_type = "application/x-amz-json-1.0"
    try:
        check(environ)
    except Refused as refused:
        log.warning("refused a %s request: %s %s", environ.get("HTTP_X_AMZ_TARGET"), refused.code, refused.message)
        close = refused.status == 413 and int(environ.get("CONTENT_LENGTH") or 0) > DRAIN_LIMIT
        return _error(start_response, refused.status, refused.code, refused.message, content_type, close)

    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured.update(status=status, headers=headers)
        if status.startswith("500") and any(k.lower() == "content-type" and "html" in v for k, v in headers):
            return lambda data: None  # replaced below
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    try:
        result = moto_app(environ, capture)
    except NotImplementedError as exc:
        log.error("%s: %s", environ.get("HTTP_X_AMZ_TARGET"), exc)
        return _error(start_response, 501, "NotImplemented",
                      f"the local cloud does not implement {environ.get('HTTP_X_AMZ_TARGET')}", content_type)
    except Exception:
        log.exception("moto failed on %s; answered InternalFailure", environ.get("HTTP_X_AMZ_TARGET"))
        return _error(start_response, 500, "InternalFailure",
                      f"the local cloud could not handle {environ.get('HTTP_X_AMZ_TARGET')} (see its log)",
                      content_type)
    status, headers = captured.get("status", ""), captured.get("headers", [])
    if status.startswith("500") and any(k.lower() == "content-type" and "html" in v for k, v in headers):
        if hasattr(result, "close"):
            result.close()
        log.error("moto failed on %s; answered InternalFailure", environ.get("HTTP_X_AMZ_TARGET"))
        return _error(start_response, 500, "InternalFailure",
                      f"the local cloud could not handle {environ.get('HTTP_X_AMZ_TARGET')} (see its log)",
                      content_type)
    return result
