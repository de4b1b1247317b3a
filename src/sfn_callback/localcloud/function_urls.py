"""Lambda Function URLs on the local cloud: an HTTP endpoint per function, as on AWS and LocalStack.

moto stores ``CreateFunctionUrlConfig`` / ``GetFunctionUrlConfig`` / ``UpdateFunctionUrlConfig`` /
``DeleteFunctionUrlConfig`` but serves nothing at the URL it returns (``https://<id>.lambda-url.<region>.on.aws``).
Here:

* the ``FunctionUrl`` is ``http://127.0.0.1:<port>/_sfn_callback/lambda-url/<url-id>/``, on the local cloud's own
  loopback port; a client appends its path to it. A request whose ``Host`` is
  ``<url-id>.lambda-url.<region>.localhost[:port]`` (curl resolves ``*.localhost`` to loopback itself) reaches the
  same function with the whole path as ``rawPath``;
* every method invokes the function synchronously with the Function URL event, payload format 2.0 (``version``,
  ``routeKey`` ``$default``, ``rawPath``, ``rawQueryString``, ``cookies``, ``headers`` in lower case with repeated
  headers joined by commas, ``queryStringParameters``, ``requestContext`` with ``http.method``, ``http.path``,
  ``http.sourceIp``, ``http.userAgent``, ``requestId``, ``time``, ``timeEpoch``, ``domainName``, ``apiId``; ``body``
  as text, or base64 with ``isBase64Encoded`` true when the content type is not text);
* the function's answer becomes the response as Lambda's payload format 2.0 says: an object with ``statusCode``
  gives that status, its ``headers``, ``cookies`` (``Set-Cookie``) and ``body`` (decoded when
  ``isBase64Encoded``); any other JSON answer is a 200 ``application/json`` response whose body is that JSON. A
  function error or timeout is ``502`` ``{"Message": "Internal Server Error"}``, as on AWS; a body over 6 MB is 413;
  an id no function has is 404;
* ``AuthType`` must be given and be ``NONE`` or ``AWS_IAM``, as AWS requires; ``AWS_IAM`` (SigV4-signed callers)
  is refused at create and update with ``InvalidParameterValueException`` saying so, rather than served
  unauthenticated. A second ``CreateFunctionUrlConfig`` for a function is ``ResourceConflictException``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

log = logging.getLogger("sfn_callback.localcloud.function_urls")

PATH_PREFIX = "/_sfn_callback/lambda-url/"
HOST_PATTERN = re.compile(r"^([a-z0-9]{1,64})\.lambda-url\.([a-z0-9-]+)\.localhost(?::\d+)?$")
MAX_BODY = 6 * 1024 * 1024
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "application/graphql", "+json", "+xml")
AUTH_TYPES = ("NONE", "AWS_IAM")
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
                302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
                422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
                502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def url_id_of(environ: dict[str, Any]) -> tuple[str, str] | None:
    """``(url id, rawPath)`` when the request is for a Function URL, by path prefix or by ``Host``."""
    path = environ.get("PATH_INFO") or "/"
    if path.startswith(PATH_PREFIX):
        rest = path[len(PATH_PREFIX):]
        url_id, _, raw = rest.partition("/")
        return (url_id, "/" + raw) if url_id else None
    match = HOST_PATTERN.match((environ.get("HTTP_HOST") or "").lower())
    return (match.group(1), path) if match else None


def _is_text(content_type: str) -> bool:
    ct = content_type.lower().split(";")[0].strip()
    return any(ct.startswith(t) if t.endswith("/") else (ct == t or ct.endswith(t)) for t in TEXT_TYPES)


def build_event(environ: dict[str, Any], url_id: str, raw_path: str, body: bytes) -> dict[str, Any]:
    """The Lambda Function URL event (payload format 2.0) of one request."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-").lower()
        else:
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else str(value)
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    raw_query = environ.get("QUERY_STRING") or ""
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": unquote(raw_path) if "%" in raw_path else raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": headers.get("host", ""),
            "domainPrefix": url_id,
            "http": {
                "method": environ.get("REQUEST_METHOD", "GET"),
                "path": raw_path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        if _is_text(headers.get("content-type", "")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def build_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body from the function's answer (payload format 2.0)."""
    try:
        answer = json.loads(payload.decode("utf-8")) if payload.strip() else None
    except (UnicodeDecodeError, ValueError):
        return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
    if not (isinstance(answer, dict) and "statusCode" in answer):
        return 200, [("Content-Type", "application/json")], json.dumps(answer).encode()
    try:
        status = int(answer["statusCode"])
        if not 100 <= status <= 599:
            raise ValueError(status)
    except (TypeError, ValueError):
        return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
    headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()] \
        if isinstance(answer.get("headers"), dict) else []
    headers += [("Set-Cookie", str(c)) for c in answer.get("cookies") or [] if isinstance(c, str)]
    body = answer.get("body")
    if body is None:
        data = b""
    elif answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body), validate=True)
        except ValueError:
            return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, data


def _find(url_id: str) -> Any:
    """The moto function whose URL config has this id, or None."""
    from moto.awslambda.models import lambda_backends
    from moto.awslambda_simple.models import lambda_simple_backends

    every: tuple[Any, ...] = (lambda_simple_backends, lambda_backends)  # the server's (no Docker), moto's own
    for backends in every:
        for regions in list(backends.values()):
            for backend in list(regions.values()):
                for fn in list(backend.list_functions()):
                    config = getattr(fn, "url_config", None)
                    if config is not None and getattr(config, "url_id", None) == url_id:
                        return fn
    return None


def _answer(start_response: Callable[..., Any], status: int, headers: list[tuple[str, str]],
            body: bytes) -> list[bytes]:
    start_response(f"{status} {_STATUS_TEXT.get(status, 'Status')}",
                   [*headers, ("Content-Length", str(len(body)))])
    return [body]


def serve(invoke: Callable[[Any, bytes], Any], environ: dict[str, Any],
          start_response: Callable[..., Any]) -> list[bytes] | None:
    """Answer a Function URL request, or None when the request is not for one. ``invoke(function, payload)``
    runs the function (moto's model) and returns the runtime's result (``payload``, ``function_error``)."""
    target = url_id_of(environ)
    if target is None:
        return None
    url_id, raw_path = target
    fn = _find(url_id)
    if fn is None:
        return _answer(start_response, 404, [("Content-Type", "application/json")],
                       json.dumps({"Message": f"no Function URL with id {url_id!r}"}).encode())
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return _answer(start_response, 413, [("Content-Type", "application/json")],
                       b'{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}')
    body = environ["wsgi.input"].read(length) if length else b""
    event = build_event(environ, url_id, raw_path, body)
    result = invoke(fn, json.dumps(event).encode())
    if result.function_error:
        log.warning("Function URL %s: %s returned an error", url_id, fn.function_name)
        return _answer(start_response, 502, [("Content-Type", "application/json")],
                       b'{"Message":"Internal Server Error"}')
    status, headers, data = build_response(result.payload)
    if status == 502 and data == b'{"Message":"Internal Server Error"}':
        log.warning("Function URL %s: %s gave an answer that is not a valid response", url_id, fn.function_name)
    return _answer(start_response, status, headers, data)


def install(endpoint_url: Callable[[], str]) -> None:
    """Local URLs for moto's Function URL configs, AuthType checked; ``endpoint_url()`` is the local cloud's."""
    from moto.awslambda import models
    from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError

    class ResourceConflict(LambdaClientError):
        def __init__(self, message: str) -> None:
            super().__init__("ResourceConflictException", message)

    def check_auth(config: dict[str, Any], required: bool) -> None:
        auth = config.get("AuthType")
        if auth is None and not required:
            return
        if auth not in AUTH_TYPES:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{auth}' at 'authType' failed to satisfy constraint: Member "
                f"must satisfy enum value set: [{', '.join(AUTH_TYPES)}]")
        if auth == "AWS_IAM":
            raise InvalidParameterValueException(
                "AuthType AWS_IAM is not supported by the local cloud's Function URLs: it serves AuthType NONE only "
                "(requests are not SigV4-checked); use NONE and authenticate in the function")

    original_init = models.FunctionUrlConfig.__init__

    def init(self: Any, function: Any, config: dict[str, Any]) -> None:
        original_init(self, function, config)
        self.url_id = uuid.uuid4().hex
        self.url = f"{endpoint_url().rstrip('/')}{PATH_PREFIX}{self.url_id}/"

    original_create = models.LambdaBackend.create_function_url_config
    original_update = models.LambdaBackend.update_function_url_config

    def create(self: Any, name_or_arn: str, config: dict[str, Any]) -> Any:
        check_auth(config, required=True)
        fn = self._lambdas.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        if fn.url_config is not None:
            raise ResourceConflict(f"Failed to create function url config for [functionArn = {fn.function_arn}]. "
                                   "Error message:  FunctionUrlConfig exists for this Lambda function")
        return original_create(self, name_or_arn, config)

    def update(self: Any, name_or_arn: str, config: dict[str, Any]) -> Any:
        check_auth(config, required=False)
        return original_update(self, name_or_arn, config)

    models.FunctionUrlConfig.__init__ = init  # type: ignore[method-assign]
    models.LambdaBackend.create_function_url_config = create  # type: ignore[method-assign]
    models.LambdaBackend.update_function_url_config = update  # type: ignore[method-assign]
