"""The Bucket resource: created private and tagged, unchanged on a second plan, emptied and removed on destroy."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer, Drivers
from sfn_callback.deploy.plan import CREATE, UNCHANGED, UPDATE
from sfn_callback.deploy.spec import MANAGED_TAG, Bucket, Stack, StackContext


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_bucket_create_plan_destroy_on_in_process_moto(monkeypatch, region):
    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": region}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        target = Target(endpoint_url=None, region=region)
        ctx = StackContext("123456789012", region, local=False)
        stack = Stack(ctx, [Bucket("exports-test")])

        def deployer() -> Deployer:
            return Deployer(target, stack, Drivers(target, ctx, b"zip"))

        first = deployer().apply()
        assert [(c.action, c.kind, c.name) for c in first.plan.changes] == [(CREATE, "bucket", "exports-test")]
        s3 = boto3.client("s3", region_name=region)
        block = s3.get_public_access_block(Bucket="exports-test")["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="exports-test")["TagSet"]}
        assert tags[MANAGED_TAG] == ctx.stack_name
        assert [c.action for c in deployer().plan().changes] == [UNCHANGED]

        s3.delete_public_access_block(Bucket="exports-test")  # drift: public access no longer blocked
        drift = deployer().plan()
        assert [(c.action, c.differences) for c in drift.changes] == [(UPDATE, ("publicAccessBlocked",))]
        deployer().apply(drift)
        assert [c.action for c in deployer().plan().changes] == [UNCHANGED]

        s3.put_object(Bucket="exports-test", Key="e/j/a.csv", Body=b"x")
        removed = deployer().destroy()
        assert [(c.kind, c.name) for c in removed] == [("bucket", "exports-test")]
        assert "exports-test" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert [c.action for c in deployer().plan().changes] == [CREATE]
        deployer().destroy()  # nothing left: a no-op
