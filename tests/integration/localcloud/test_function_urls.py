"""Lambda Function URLs on the local cloud: the config calls, and real HTTP requests to the URL invoking a small
Python function with the payload format 2.0 event, its answer mapped back to the HTTP response."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import botocore.exceptions
import httpx
import pytest

pytestmark = pytest.mark.cloud

APP = '''
import base64, json

def handler(event, context):
    mode = (event.get("queryStringParameters") or {}).get("mode", "echo")
    if mode == "raise":
        raise RuntimeError("asked to fail")
    if mode == "plain":
        return {"just": "data", "n": 1}
    if mode == "binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes([0, 1, 2, 255])).decode(), "isBase64Encoded": True}
    return {"statusCode": 201, "headers": {"content-type": "application/json", "x-echo": "yes"},
            "cookies": ["session=abc; Path=/"], "body": json.dumps(event)}
'''


@pytest.fixture(scope="module")
def url(local_cloud, make_function):
    make_function("lc-url-echo", APP)
    lam = local_cloud.client("lambda")
    created = lam.create_function_url_config(FunctionName="lc-url-echo", AuthType="NONE")
    yield created["FunctionUrl"]
    try:
        lam.delete_function_url_config(FunctionName="lc-url-echo")
    except lam.exceptions.ResourceNotFoundException:
        pass


def test_the_url_is_on_the_local_clouds_loopback_port(local_cloud, url):
    assert url.startswith(local_cloud.endpoint_url + "/_sfn_callback/lambda-url/") and url.endswith("/")
    got = local_cloud.client("lambda").get_function_url_config(FunctionName="lc-url-echo")
    assert got["FunctionUrl"] == url and got["AuthType"] == "NONE"


def test_a_request_is_the_function_url_event_and_the_answer_is_the_response(url):
    response = httpx.post(url + "jobs/42/done?a=1&a=2&b=x", json={"jobId": "j-1"},
                          headers={"X-Signature": "sig", "Cookie": "c1=v1; c2=v2"})
    assert response.status_code == 201
    assert response.headers["x-echo"] == "yes" and response.headers["set-cookie"] == "session=abc; Path=/"
    event = response.json()
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/jobs/42/done" and event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["headers"]["x-signature"] == "sig" and event["headers"]["content-type"] == "application/json"
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False and json.loads(event["body"]) == {"jobId": "j-1"}
    http = event["requestContext"]["http"]
    assert http["method"] == "POST" and http["path"] == "/jobs/42/done" and http["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["apiId"] == urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]

    binary = httpx.put(url, content=bytes([9, 0, 200]), headers={"Content-Type": "application/octet-stream"})
    sent = binary.json()
    assert sent["isBase64Encoded"] is True and base64.b64decode(sent["body"]) == bytes([9, 0, 200])
    assert sent["rawPath"] == "/" and sent["requestContext"]["http"]["method"] == "PUT"
    assert "body" not in httpx.get(url).json()


def test_plain_answers_binary_answers_and_errors(url):
    plain = httpx.get(url, params={"mode": "plain"})
    assert plain.status_code == 200 and plain.json() == {"just": "data", "n": 1}
    binary = httpx.get(url, params={"mode": "binary"})
    assert binary.content == bytes([0, 1, 2, 255]) and binary.headers["content-type"] == "application/octet-stream"
    failed = httpx.get(url, params={"mode": "raise"})
    assert failed.status_code == 502 and failed.json() == {"Message": "Internal Server Error"}


def test_the_host_form_reaches_the_same_function(local_cloud, url):
    url_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    response = httpx.get(local_cloud.endpoint_url + "/some/path",
                         headers={"Host": f"{url_id}.lambda-url.us-east-1.localhost"})
    assert response.status_code == 201 and response.json()["rawPath"] == "/some/path"


def test_auth_types_conflicts_and_delete(local_cloud, make_function, url):
    lam = local_cloud.client("lambda")
    make_function("lc-url-other", APP)
    with pytest.raises(botocore.exceptions.ClientError) as iam:
        lam.create_function_url_config(FunctionName="lc-url-other", AuthType="AWS_IAM")
    assert iam.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "AuthType NONE only" in iam.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as again:
        lam.create_function_url_config(FunctionName="lc-url-echo", AuthType="NONE")
    assert again.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(botocore.exceptions.ClientError) as to_iam:
        lam.update_function_url_config(FunctionName="lc-url-echo", AuthType="AWS_IAM")
    assert to_iam.value.response["Error"]["Code"] == "InvalidParameterValueException"

    lam.delete_function_url_config(FunctionName="lc-url-echo")
    assert httpx.get(url).status_code == 404
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName="lc-url-echo")
    assert httpx.get(local_cloud.endpoint_url + "/_sfn_callback/lambda-url/nosuchid/").status_code == 404
