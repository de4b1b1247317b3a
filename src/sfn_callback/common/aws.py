"""boto3 clients pointed at the right place.

Inside a Lambda (local or AWS) the standard environment decides: ``AWS_ENDPOINT_URL`` is set by the local
cloud's executor and absent on AWS, so handler code never names an endpoint.

A target that means real AWS (``--endpoint aws``) ignores configured endpoint URLs (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_<SERVICE>``, ``endpoint_url`` in the AWS config file): they are how users point tools at a
local cloud, and boto3 would otherwise send "AWS" calls there.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from sfn_callback.config import LOCAL_CREDENTIALS, Target


def callback_client_config() -> Config:
    """The client config of every SendTask* sender: botocore does not retry (the sender does, and counts)."""
    return Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10,
                  max_pool_connections=50)


_RETRY = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=50)
_REAL_AWS = Config(ignore_configured_endpoint_urls=True)


def session_for(target: Target) -> boto3.session.Session:
    if target.profile:
        return boto3.session.Session(profile_name=target.profile, region_name=target.region)
    if target.is_local:
        return boto3.session.Session(region_name=target.region, **LOCAL_CREDENTIALS)
    return boto3.session.Session(region_name=target.region)


def client(service: str, target: Target | None = None, **kwargs: Any) -> Any:
    """A client for ``service``; with no target, the ambient AWS configuration (as in a Lambda)."""
    if target is None:
        return _ambient_client(service)
    kwargs.setdefault("config", _RETRY)
    if not target.is_local:
        kwargs["config"] = kwargs["config"].merge(_REAL_AWS)
    return session_for(target).client(service, endpoint_url=target.endpoint_url, **kwargs)


@functools.cache
def _ambient_client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_RETRY)


def callback_client(target: Target | None = None) -> Any:
    """A Step Functions client for SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat: botocore makes one
    attempt per call, the callback core's loop is the one retry layer (``sfn_callback.callbacks``)."""
    if target is None:
        return _ambient_callback_client()
    return client("stepfunctions", target, config=callback_client_config())


@functools.lru_cache(maxsize=1)
def _ambient_callback_client() -> Any:
    return boto3.session.Session().client("stepfunctions", config=callback_client_config())
