"""SNS deliveries of the local cloud: to SQS, to Lambda and to HTTP/HTTPS endpoints, as SNS makes them.

moto publishes to SQS in process, but with its own envelope (sorted keys, an ``UnsubscribeURL`` naming a
made-up subscription) and it treats ``RawMessageDelivery: "false"`` as raw; it invokes Lambda with a fixed
example event, and POSTs to HTTP endpoints synchronously inside ``Publish`` (an endpoint that is down makes
the publisher's call fail), without SNS's headers, retries or subscription confirmation. Here:

* **SQS**: the JSON envelope SNS writes (``Type``, ``MessageId``, ``TopicArn``, ``Subject`` when given,
  ``Message``, ``Timestamp``, ``SignatureVersion``, ``Signature``, ``SigningCertURL``, ``UnsubscribeURL``,
  ``MessageAttributes`` when given; pretty-printed as SNS does), or the bare message with its attributes as
  SQS message attributes when ``RawMessageDelivery`` is ``true``;
* **Lambda**: an asynchronous invoke (``Event``) with the SNS event, ``Records[].Sns`` (``Type``,
  ``MessageId``, ``TopicArn``, ``Subject`` or null, ``Message``, ``Timestamp``, ``SignatureVersion``,
  ``Signature``, ``SigningCertUrl``, ``UnsubscribeUrl``, ``MessageAttributes``) and ``EventSubscriptionArn``;
* **HTTP/HTTPS** (loopback endpoints only; another host is refused at ``Subscribe``): a subscription starts
  *pending confirmation* (``Subscribe`` answers ``pending confirmation`` unless ``ReturnSubscriptionArn``;
  listings show ``PendingConfirmation``) and the endpoint receives a ``SubscriptionConfirmation`` with a
  ``Token`` and a ``SubscribeURL``; ``ConfirmSubscription`` with that token (or a GET of the URL) confirms it,
  any other token is ``InvalidParameter``. Confirmed subscriptions receive each notification as a POST of the
  envelope (or the raw message) with SNS's headers (``x-amz-sns-message-type``, ``x-amz-sns-message-id``,
  ``x-amz-sns-topic-arn``, ``x-amz-sns-subscription-arn``, ``Content-Type: text/plain; charset=UTF-8`` or the
  delivery policy's ``headerContentType``), in the background so the publisher never waits. A 5xx answer, a
  429, a timeout (15 s) or a refused connection is retried as SNS's default HTTP delivery policy does: 3
  retries (``numRetries`` of the subscription's or topic's delivery policy when set), 1 s apart locally
  (``SFN_CALLBACK_SNS_HTTP_RETRY_DELAY``; SNS waits 20 s); another 4xx is a failure without retry.
  ``Unsubscribe`` sends an ``UnsubscribeConfirmation``.

A delivery that fails (no such queue or function, an endpoint that never answers) is logged and counted, and
never fails the ``Publish``. Counts are in ``/health`` under ``sns``. Messages are signed with a key of this
local cloud, whose certificate the ``SigningCertURL`` serves.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import re
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sfn_callback.localcloud.patching import mark, replace

log = logging.getLogger("sfn_callback.localcloud.sns")

PEM_NAME = "SimpleNotificationService-sfncallbacklocal.pem"
DEFAULT_RETRIES = 3
HTTP_TIMEOUT = 15.0
USER_AGENT = "Amazon Simple Notification Service Agent"
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback_url(url: str, scheme: str) -> bool:
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if parsed.scheme != scheme or not parsed.hostname:
        return False
    host = parsed.hostname.lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sns_timestamp(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(epoch if epoch is not None else time.time(), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def pretty(envelope: dict[str, Any]) -> str:
    """The envelope as SNS writes it into an SQS message: two-space indent, ``"Key" : value``."""
    return json.dumps(envelope, indent=2, separators=(",", " : "), ensure_ascii=False)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _retries(policy_text: Any, topic_policy: Any) -> int:
    for text, path in ((policy_text, ("healthyRetryPolicy",)), (topic_policy, ("http", "defaultHealthyRetryPolicy"))):
        try:
            policy = json.loads(text) if isinstance(text, str) and text else (text or {})
            for key in path:
                policy = policy.get(key) or {}
            if "numRetries" in policy:
                return max(0, min(int(policy["numRetries"]), 100))
        except (ValueError, AttributeError, TypeError):
            continue
    return DEFAULT_RETRIES


def _content_type(policy_text: Any, topic_policy: Any) -> str:
    for text, path in ((policy_text, ("requestPolicy",)), (topic_policy, ("http", "defaultRequestPolicy"))):
        try:
            policy = json.loads(text) if isinstance(text, str) and text else (text or {})
            for key in path:
                policy = policy.get(key) or {}
            if policy.get("headerContentType"):
                return str(policy["headerContentType"])
        except (ValueError, AttributeError, TypeError):
            continue
    return "text/plain; charset=UTF-8"


class SnsDelivery:
    """Replaces moto's subscription delivery; one per local cloud."""

    def __init__(self, endpoint_url: str, invoke_async: Callable[[str, str, str, str], None],
                 retry_delay: float = 1.0, timeout: float = HTTP_TIMEOUT, workers: int = 4) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self._invoke_async = invoke_async  # (account, region, function arn, payload)
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sns-http")
        self._lock = threading.Lock()
        self._key: Any = None
        self._pem: bytes = b""
        self.stats: dict[str, Any] = {"published": 0, "delivered": {"sqs": 0, "lambda": 0, "http": 0},
                                      "failed": {"sqs": 0, "lambda": 0, "http": 0}, "http_attempts": 0,
                                      "http_retries": 0, "confirmations_sent": 0, "pending_skipped": 0}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _count(self, outcome: str, kind: str) -> None:
        with self._lock:
            self.stats[outcome][kind] += 1

    def _bump(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[name] += amount

    # -- signing ---------------------------------------------------------------------------------
    def _signing_key(self) -> Any:
        with self._lock:
            if self._key is None:
                from datetime import timedelta

                from cryptography import x509
                from cryptography.hazmat.primitives import hashes, serialization
                from cryptography.hazmat.primitives.asymmetric import rsa
                from cryptography.x509.oid import NameOID

                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
                now = datetime.now(UTC)
                cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                        .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
                self._pem = cert.public_bytes(serialization.Encoding.PEM)
                self._key = key
            return self._key

    def pem(self) -> bytes:
        self._signing_key()
        return self._pem

    def sign(self, fields: dict[str, Any], version: str) -> str:
        """SNS's signature: the listed fields as ``name\\nvalue\\n`` in name order, RSA with SHA1 (v1) or SHA256."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if fields.get("Type") == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        text = "".join(f"{name}\n{fields[name]}\n" for name in names if fields.get(name) is not None)
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - SNS's v1 is SHA1
        signature = self._signing_key().sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)
        return base64.b64encode(signature).decode("ascii")

    # -- envelopes -------------------------------------------------------------------------------
    def unsubscribe_url(self, subscription_arn: str) -> str:
        return f"{self.endpoint_url}/?Action=Unsubscribe&SubscriptionArn={urllib.parse.quote(subscription_arn, safe='')}"

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return (f"{self.endpoint_url}/?Action=ConfirmSubscription&TopicArn="
                f"{urllib.parse.quote(topic_arn, safe='')}&Token={token}")

    def notification(self, subscription: Any, message: str, message_id: str, subject: str | None,
                     attributes: dict[str, Any] | None, timestamp: str) -> dict[str, Any]:
        version = str(getattr(subscription.topic, "signature_version", None) or "1")
        envelope: dict[str, Any] = {"Type": "Notification", "MessageId": message_id,
                                    "TopicArn": subscription.topic.arn}
        if subject is not None:
            envelope["Subject"] = subject
        envelope.update({"Message": message, "Timestamp": timestamp, "SignatureVersion": version})
        envelope["Signature"] = self.sign(envelope, version)
        envelope["SigningCertURL"] = f"{self.endpoint_url}/{PEM_NAME}"
        envelope["UnsubscribeURL"] = self.unsubscribe_url(subscription.arn)
        if attributes:
            envelope["MessageAttributes"] = {name: {"Type": a.get("Type"), "Value": a.get("Value")}
                                             for name, a in attributes.items()}
        return envelope

    def control_message(self, kind: str, topic_arn: str, token: str, text: str, version: str = "1") -> dict[str, Any]:
        envelope: dict[str, Any] = {"Type": kind, "MessageId": str(uuid.uuid4()), "Token": token,
                                    "TopicArn": topic_arn, "Message": text,
                                    "SubscribeURL": self.subscribe_url(topic_arn, token),
                                    "Timestamp": sns_timestamp(), "SignatureVersion": version}
        envelope["Signature"] = self.sign(envelope, version)
        envelope["SigningCertURL"] = f"{self.endpoint_url}/{PEM_NAME}"
        return envelope

    # -- delivery --------------------------------------------------------------------------------
    def deliver(self, subscription: Any, message: str, message_id: str, subject: str | None,
                attributes: dict[str, Any] | None, group_id: str | None, deduplication_id: str | None) -> None:
        protocol = subscription.protocol
        if protocol in ("http", "https") and _truthy(subscription.attributes.get("PendingConfirmation")):
            self._bump("pending_skipped")
            return
        raw = _truthy(subscription.attributes.get("RawMessageDelivery"))
        timestamp = sns_timestamp()
        self._bump("published")
        if protocol == "sqs":
            self._to_sqs(subscription, message, message_id, subject, attributes, group_id, deduplication_id, raw,
                         timestamp)
        elif protocol == "lambda":
            self._to_lambda(subscription, message, message_id, subject, attributes, timestamp)
        elif protocol in ("http", "https"):
            if raw:
                body, extra = message, {"x-amz-sns-rawdelivery": "true"}
            else:
                body, extra = pretty(self.notification(subscription, message, message_id, subject, attributes,
                                                       timestamp)), {}
            headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": message_id,
                       "x-amz-sns-topic-arn": subscription.topic.arn,
                       "x-amz-sns-subscription-arn": subscription.arn, **extra}
            self.post(subscription, body, headers, "notification")

    def _to_sqs(self, subscription: Any, message: str, message_id: str, subject: str | None,
                attributes: dict[str, Any] | None, group_id: str | None, deduplication_id: str | None, raw: bool,
                timestamp: str) -> None:
        from moto.sqs import sqs_backends

        parts = subscription.endpoint.split(":")
        try:
            backend = sqs_backends[parts[4]][parts[3]]
            if raw:
                sqs_attributes = {}
                for name, value in (attributes or {}).items():
                    kind = str(value.get("Type", "String"))
                    field = "BinaryValue" if kind.startswith("Binary") else "StringValue"
                    sqs_attributes[name] = {"DataType": kind, field: str(value.get("Value"))
                                            if field == "StringValue" else value.get("Value")}
                backend.send_message(parts[5], message, message_attributes=sqs_attributes,
                                     deduplication_id=deduplication_id, group_id=group_id, validate_group_id=False)
            else:
                body = pretty(self.notification(subscription, message, message_id, subject, attributes, timestamp))
                backend.send_message(parts[5], body, deduplication_id=deduplication_id, group_id=group_id,
                                     validate_group_id=False)
            self._count("delivered", "sqs")
        except Exception as exc:  # the queue is gone, the ARN is malformed: SNS drops the delivery
            self._count("failed", "sqs")
            log.warning("SNS delivery of %s to %s failed: %s", message_id, subscription.endpoint, exc)

    def _to_lambda(self, subscription: Any, message: str, message_id: str, subject: str | None,
                   attributes: dict[str, Any] | None, timestamp: str) -> None:
        envelope = self.notification(subscription, message, message_id, subject, attributes, timestamp)
        record = {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription.arn,
                  "Sns": {"Type": "Notification", "MessageId": message_id, "TopicArn": subscription.topic.arn,
                          "Subject": subject, "Message": message, "Timestamp": timestamp,
                          "SignatureVersion": envelope["SignatureVersion"], "Signature": envelope["Signature"],
                          "SigningCertUrl": envelope["SigningCertURL"], "UnsubscribeUrl": envelope["UnsubscribeURL"],
                          "MessageAttributes": envelope.get("MessageAttributes", {})}}
        parts = subscription.endpoint.split(":")
        try:
            self._invoke_async(parts[4], parts[3], subscription.endpoint, json.dumps({"Records": [record]}))
            self._count("delivered", "lambda")
        except Exception as exc:  # no such function
            self._count("failed", "lambda")
            log.warning("SNS delivery of %s to %s failed: %s", message_id, subscription.endpoint, exc)

    def post(self, subscription: Any, body: str, headers: dict[str, str], what: str) -> None:
        """POST in the background with SNS's retries; never raises into the publisher."""
        policy = subscription.attributes.get("DeliveryPolicy")
        topic_policy = getattr(subscription.topic, "delivery_policy", None)
        retries = _retries(policy, topic_policy)
        headers = {"Content-Type": _content_type(policy, topic_policy), "User-Agent": USER_AGENT, **headers}
        try:
            self._pool.submit(self._post, subscription.endpoint, body.encode("utf-8"), headers, retries, what)
        except RuntimeError:  # shutting down
            pass

    def _send(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """One POST; header names go out as written (SNS's are lower case). Returns the status code."""
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not parts.hostname:
            raise http.client.InvalidURL(f"no host in {url!r}")
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.timeout, context=ssl._create_unverified_context())
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def _post(self, url: str, body: bytes, headers: dict[str, str], retries: int, what: str) -> bool:
        error = ""
        for attempt in range(retries + 1):
            if attempt:
                self._bump("http_retries")
                time.sleep(self.retry_delay)
            self._bump("http_attempts")
            status: int | None = None
            try:
                status = self._send(url, body, headers)
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
                error = str(exc) or type(exc).__name__
            if status is not None and 200 <= status < 300:
                if what != "notification":
                    self._bump("confirmations_sent")
                else:
                    self._count("delivered", "http")
                return True
            if status is not None:
                error = f"HTTP {status}"
                if 400 <= status < 500 and status != 429:
                    break  # a client error: SNS does not retry it
        if what == "notification":
            self._count("failed", "http")
        log.warning("SNS %s to %s failed after %d attempt(s): %s", what, url, attempt + 1, error)
        return False

    # -- subscriptions ---------------------------------------------------------------------------
    def request_confirmation(self, subscription: Any) -> None:
        token = getattr(subscription, "_sfn_token", None) or uuid.uuid4().hex + uuid.uuid4().hex
        subscription._sfn_token = token
        text = (f"You have chosen to subscribe to the topic {subscription.topic.arn}.\nTo confirm the "
                "subscription, visit the SubscribeURL included in this message.")
        envelope = self.control_message("SubscriptionConfirmation", subscription.topic.arn, token, text)
        headers = {"x-amz-sns-message-type": "SubscriptionConfirmation",
                   "x-amz-sns-message-id": envelope["MessageId"], "x-amz-sns-topic-arn": subscription.topic.arn}
        self.post(subscription, pretty(envelope), headers, "subscription confirmation")

    def send_unsubscribe_confirmation(self, subscription: Any) -> None:
        token = getattr(subscription, "_sfn_token", None) or uuid.uuid4().hex
        text = (f"You have chosen to deactivate subscription {subscription.arn}.\nTo cancel this operation and "
                "restore the subscription, visit the SubscribeURL included in this message.")
        envelope = self.control_message("UnsubscribeConfirmation", subscription.topic.arn, token, text)
        headers = {"x-amz-sns-message-type": "UnsubscribeConfirmation",
                   "x-amz-sns-message-id": envelope["MessageId"], "x-amz-sns-topic-arn": subscription.topic.arn,
                   "x-amz-sns-subscription-arn": subscription.arn}
        self.post(subscription, pretty(envelope), headers, "unsubscribe confirmation")

    def confirm(self, topic_arn: str, token: str, authenticated: bool) -> str:
        """Confirm the pending subscription holding ``token``; returns its ARN."""
        from moto.sns.exceptions import SNSInvalidParameter, TopicNotFound
        from moto.sns.models import sns_backends

        parts = (topic_arn or "").split(":")
        if len(parts) != 6:
            raise SNSInvalidParameter("Invalid parameter: TopicArn")
        backend = sns_backends[parts[4]][parts[3]]
        if topic_arn not in backend.topics:
            raise TopicNotFound
        for subscription in list(backend.subscriptions.values()):
            if subscription.topic.arn == topic_arn and token and getattr(subscription, "_sfn_token", None) == token:
                if _truthy(subscription.attributes.get("PendingConfirmation")):
                    subscription.attributes["PendingConfirmation"] = "false"
                    subscription.attributes["ConfirmationWasAuthenticated"] = "true" if authenticated else "false"
                    subscription.confirmed = True
                    log.info("SNS subscription %s confirmed", subscription.arn)
                return subscription.arn
        raise SNSInvalidParameter("Invalid token")

    # -- wiring into moto ------------------------------------------------------------------------
    def install(self) -> None:
        from moto.sns import models as sns_models
        from moto.sns import responses as sns_responses
        from moto.sns.exceptions import SNSInvalidParameter

        delivery = self
        Subscription = sns_models.Subscription
        if getattr(Subscription.publish, "_sfn_callback", False):
            return
        original_publish = Subscription.publish

        def publish(sub: Any, message: str, message_id: str, subject: str | None = None,
                    message_attributes: dict[str, Any] | None = None, group_id: str | None = None,
                    deduplication_id: str | None = None, message_structure: str | None = None) -> None:
            if sub.protocol not in ("sqs", "lambda", "http", "https"):
                return original_publish(sub, message, message_id, subject=subject,
                                        message_attributes=message_attributes, group_id=group_id,
                                        deduplication_id=deduplication_id, message_structure=message_structure)
            if sub._filter_policy_matcher is not None and not sub._filter_policy_matcher.matches(
                    message_attributes, message):
                return None
            if message_structure == "json":
                message = sub._parse_message_structure(message, sub.protocol)
            delivery.deliver(sub, message, message_id, subject, message_attributes, group_id, deduplication_id)
            return None

        mark(publish, "_sfn_callback")
        replace(Subscription, "publish", publish)
        # Listings show a pending HTTP subscription as "PendingConfirmation", as SNS does.
        replace(Subscription, "subscription_arn", property(
            lambda sub: "PendingConfirmation" if _truthy(sub.attributes.get("PendingConfirmation")) else sub.arn))

        backend_cls = sns_models.SNSBackend
        original_subscribe = backend_cls.subscribe
        original_unsubscribe = backend_cls.unsubscribe

        def subscribe(backend: Any, topic_arn: str, endpoint: str, protocol: str) -> Any:
            if protocol in ("http", "https") and not is_loopback_url(endpoint or "", protocol):
                raise SNSInvalidParameter(f"Invalid parameter: Endpoint: the local cloud delivers {protocol} "
                                          "notifications to loopback addresses only (127.0.0.1, localhost, ::1), "
                                          f"and {endpoint!r} is not one")
            if protocol == "lambda" and not _LAMBDA_ARN.match(endpoint or ""):
                raise SNSInvalidParameter("Invalid parameter: Lambda endpoint ARN")
            existing = backend._find_subscription(topic_arn, endpoint, protocol)
            subscription = original_subscribe(backend, topic_arn, endpoint, protocol)
            if protocol in ("http", "https") and existing is None:
                subscription.attributes["PendingConfirmation"] = "true"
                subscription.attributes["ConfirmationWasAuthenticated"] = "false"
                delivery.request_confirmation(subscription)
            for name in ("PendingConfirmation", "ConfirmationWasAuthenticated", "RawMessageDelivery"):
                value = subscription.attributes.get(name)
                if isinstance(value, bool):
                    subscription.attributes[name] = "true" if value else "false"
            return subscription

        def unsubscribe(backend: Any, subscription_arn: str) -> None:
            subscription = backend.subscriptions.get(subscription_arn)
            original_unsubscribe(backend, subscription_arn)
            if subscription is not None and subscription.protocol in ("http", "https"):
                delivery.send_unsubscribe_confirmation(subscription)

        replace(backend_cls, "subscribe", subscribe)
        replace(backend_cls, "unsubscribe", unsubscribe)

        from moto.core.responses import ActionResult

        response_cls = sns_responses.SNSResponse
        original_subscribe_response = response_cls.subscribe

        def subscribe_response(response: Any) -> Any:
            result = original_subscribe_response(response)
            protocol = response._get_param("Protocol")
            wants_arn = _truthy(response._get_param("ReturnSubscriptionArn"))
            if protocol in ("http", "https") and not wants_arn:
                arn = next((s.arn for s in response.backend.subscriptions.values()
                            if s.topic.arn == response._get_param("TopicArn") and s.endpoint == response._get_param(
                                "Endpoint") and s.protocol == protocol), None)
                sub = response.backend.subscriptions.get(arn) if arn else None
                if sub is not None and _truthy(sub.attributes.get("PendingConfirmation")):
                    return ActionResult({"SubscriptionArn": "pending confirmation"})
            return result

        def confirm_subscription(response: Any) -> Any:
            arn = delivery.confirm(response._get_param("TopicArn"), response._get_param("Token"), authenticated=True)
            return ActionResult({"SubscriptionArn": arn})

        replace(response_cls, "subscribe", subscribe_response)
        replace(response_cls, "confirm_subscription", confirm_subscription)
        self._install_unsigned_links()

    def _install_unsigned_links(self) -> None:
        """The ``SubscribeURL``, ``UnsubscribeURL`` and ``SigningCertURL`` work with a plain GET, as on SNS."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        delivery = self
        original_call = DomainDispatcherApplication.__call__
        if getattr(original_call, "_sfn_callback", False):
            return

        def call(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("REQUEST_METHOD") == "GET" and not environ.get("HTTP_AUTHORIZATION"):
                path = environ.get("PATH_INFO") or "/"
                if path == f"/{PEM_NAME}":
                    return _respond(start_response, "200 OK", delivery.pem(), "application/x-pem-file")
                if path == "/":
                    query = urllib.parse.parse_qs(environ.get("QUERY_STRING") or "")
                    action = (query.get("Action") or [""])[0]
                    if action in ("ConfirmSubscription", "Unsubscribe"):
                        return delivery._unsigned_action(action, query, start_response)
            return original_call(app, environ, start_response)

        mark(call, "_sfn_callback")
        replace(DomainDispatcherApplication, "__call__", call)

    def _unsigned_action(self, action: str, query: dict[str, list[str]], start_response: Any) -> Any:
        from moto.sns.models import sns_backends

        request_id = str(uuid.uuid4())
        namespace = "http://sns.amazonaws.com/doc/2010-03-31/"
        try:
            if action == "ConfirmSubscription":
                arn = self.confirm((query.get("TopicArn") or [""])[0], (query.get("Token") or [""])[0],
                                   authenticated=False)
                body = (f'<ConfirmSubscriptionResponse xmlns="{namespace}"><ConfirmSubscriptionResult>'
                        f"<SubscriptionArn>{arn}</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata>"
                        f"<RequestId>{request_id}</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>")
            else:
                arn = (query.get("SubscriptionArn") or [""])[0]
                parts = arn.split(":")
                if len(parts) != 7:
                    from moto.sns.exceptions import SNSInvalidParameter

                    raise SNSInvalidParameter("Invalid parameter: SubscriptionArn")
                sns_backends[parts[4]][parts[3]].unsubscribe(arn)
                body = (f'<UnsubscribeResponse xmlns="{namespace}"><ResponseMetadata><RequestId>{request_id}'
                        "</RequestId></ResponseMetadata></UnsubscribeResponse>")
            return _respond(start_response, "200 OK", body.encode(), "text/xml")
        except Exception as exc:
            code = getattr(exc, "code", "InvalidParameter")
            message = getattr(exc, "message", None) or str(exc)
            body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code><Message>'
                    f"{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
            return _respond(start_response, "400 Bad Request", body.encode(), "text/xml")


def _respond(start_response: Any, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
