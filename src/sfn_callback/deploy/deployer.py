"""Plan and apply a ``Stack`` against a target (local cloud, LocalStack or AWS), idempotently.

Each resource kind has a driver that reads the target's current state in the same shape as the spec's
``properties()``, and creates, updates or deletes. Every resource of a tagged kind (``TAGGED_KINDS``) is
tagged ``sfn-callback:stack``, so a resource removed from the spec is found and planned for deletion; the tag
is part of what a plan compares (only the keys the stack sets: tags added by others, such as Terraform's
``tags`` variable, are left alone), so a resource created without it, by hand or by another tool, is updated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.common.aws import client as make_client
from sfn_callback.config import Target
from sfn_callback.deploy import packaging
from sfn_callback.deploy.plan import CREATE, DELETE, UNCHANGED, UPDATE, Change, Plan, compute_plan
from sfn_callback.deploy.spec import (
    MANAGED_TAG,
    TAGGED_KINDS,
    Alarm,
    Bucket,
    Dashboard,
    EventSourceMapping,
    Function,
    FunctionUrl,
    LogGroup,
    Queue,
    Resource,
    Role,
    Schedule,
    ScheduleGroup,
    Stack,
    StackContext,
    StateMachine,
    Table,
    Topic,
    managed_tags,
    policy_document,
)
from sfn_callback.deploy.stack import build_stack

INLINE_POLICY = "inline"
FUNCTION_URL_STATEMENT = "AllowPublicFunctionUrl"
FUNCTION_URL_INVOKE_STATEMENT = "AllowPublicInvokeViaUrl"
_PUBLIC_ACCESS_BLOCK = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "StateMachineDoesNotExist",
    "NotFoundException",
    "NotFound",  # SNS: no such topic
    "ResourceNotFound",  # CloudWatch GetDashboard: no such dashboard
}


def _absent(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or None when AWS answers that the resource does not exist."""
    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        if _code(exc) in NOT_FOUND:
            return None
        raise


class Drivers:
    """One read / create / update / delete per resource kind."""

    def __init__(self, target: Target, ctx: StackContext, zip_bytes: bytes | None = None):
        self.target = target
        self.ctx = ctx
        self._clients: dict[str, Any] = {}
        self._zip = zip_bytes

    def c(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, self.target)
        return self._clients[service]

    @property
    def zip_bytes(self) -> bytes:
        if self._zip is None:
            self._zip = packaging.build_zip()
        return self._zip

    def tags(self) -> dict[str, str]:
        return managed_tags(self.ctx)

    def desired(self, r: Resource) -> dict[str, Any]:
        if isinstance(r, Function):
            props = r.properties(self.ctx, packaging.code_sha256(self.zip_bytes))
        else:
            props = r.properties(self.ctx)
        if r.kind in TAGGED_KINDS:
            props = {**props, "tags": self.tags()}
        return props

    # ------------------------------------------------------------------------------------------ read
    def read(self, r: Resource) -> dict[str, Any] | None:
        props = getattr(self, "read_" + r.kind.replace("-", "_"))(r)
        if props is not None and r.kind in TAGGED_KINDS:
            found = self.read_tags(r)
            props["tags"] = {k: found[k] for k in self.tags() if k in found}
        return props

    # tags: read what the resource carries, add the stack's (never removing other tags)
    def _log_group_arn(self, name: str) -> str:
        return f"arn:aws:logs:{self.ctx.region}:{self.ctx.account_id}:log-group:{name}"

    def _schedule_group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self.ctx.region}:{self.ctx.account_id}:schedule-group/{name}"

    def read_tags(self, r: Resource) -> dict[str, str]:
        kind = r.kind
        if kind == "log-group":
            return self.c("logs").list_tags_for_resource(resourceArn=self._log_group_arn(r.name)).get("tags", {})
        if kind == "table":
            tags = self.c("dynamodb").list_tags_of_resource(ResourceArn=self.ctx.table_arn(r.name)).get("Tags", [])
            return {t["Key"]: t["Value"] for t in tags}
        if kind == "bucket":
            return {t["Key"]: t["Value"] for t in self._bucket_tags(r.name)}
        if kind == "queue":
            url = self.c("sqs").get_queue_url(QueueName=r.name)["QueueUrl"]
            return self.c("sqs").list_queue_tags(QueueUrl=url).get("Tags", {})
        if kind == "role":
            return {t["Key"]: t["Value"] for t in self.c("iam").list_role_tags(RoleName=r.name).get("Tags", [])}
        if kind == "function":
            return self.c("lambda").list_tags(Resource=self.ctx.function_arn(r.name)).get("Tags", {})
        if kind == "schedule-group":
            tags = self.c("scheduler").list_tags_for_resource(ResourceArn=self._schedule_group_arn(r.name))
            return {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
        if kind == "state-machine":
            tags = self.c("stepfunctions").list_tags_for_resource(resourceArn=self.ctx.state_machine_arn(r.name))
            return {t["key"]: t["value"] for t in tags.get("tags", [])}
        if kind == "topic":
            tags = self.c("sns").list_tags_for_resource(ResourceArn=self.ctx.topic_arn(r.name)).get("Tags", [])
            return {t["Key"]: t["Value"] for t in tags}
        if kind == "alarm":
            tags = self.c("cloudwatch").list_tags_for_resource(ResourceARN=self.ctx.alarm_arn(r.name)).get("Tags", [])
            return {t["Key"]: t["Value"] for t in tags}
        raise DeployError(f"no tag reader for {kind}")

    def _bucket_tags(self, name: str) -> list[dict[str, str]]:
        try:
            return self.c("s3").get_bucket_tagging(Bucket=name).get("TagSet", [])
        except ClientError as exc:
            if _code(exc) == "NoSuchTagSet":
                return []
            raise

    def put_tags(self, r: Resource) -> None:
        tags, kind = self.tags(), r.kind
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
        if kind == "log-group":
            self.c("logs").tag_resource(resourceArn=self._log_group_arn(r.name), tags=tags)
        elif kind == "table":
            self.c("dynamodb").tag_resource(ResourceArn=self.ctx.table_arn(r.name), Tags=pairs)
        elif kind == "bucket":  # PutBucketTagging replaces the whole set: keep the others
            others = [t for t in self._bucket_tags(r.name) if t["Key"] not in tags]
            self.c("s3").put_bucket_tagging(Bucket=r.name, Tagging={"TagSet": others + pairs})
        elif kind == "queue":
            url = self.c("sqs").get_queue_url(QueueName=r.name)["QueueUrl"]
            self.c("sqs").tag_queue(QueueUrl=url, Tags=tags)
        elif kind == "role":
            self.c("iam").tag_role(RoleName=r.name, Tags=pairs)
        elif kind == "function":
            self.c("lambda").tag_resource(Resource=self.ctx.function_arn(r.name), Tags=tags)
        elif kind == "schedule-group":
            self.c("scheduler").tag_resource(ResourceArn=self._schedule_group_arn(r.name), Tags=pairs)
        elif kind == "state-machine":
            self.c("stepfunctions").tag_resource(resourceArn=self.ctx.state_machine_arn(r.name),
                                                 tags=[{"key": k, "value": v} for k, v in tags.items()])
        elif kind == "topic":
            self.c("sns").tag_resource(ResourceArn=self.ctx.topic_arn(r.name), Tags=pairs)
        elif kind == "alarm":  # PutMetricAlarm ignores Tags for an existing alarm
            self.c("cloudwatch").tag_resource(ResourceARN=self.ctx.alarm_arn(r.name), Tags=pairs)
        else:
            raise DeployError(f"no tag writer for {kind}")

    def read_table(self, r: Table) -> dict[str, Any] | None:
        desc = _absent(lambda: self.c("dynamodb").describe_table(TableName=r.name))
        if desc is None:
            return None
        t = desc["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}

        def keys(schema: list[dict[str, str]]) -> tuple[list[str] | None, list[str] | None]:
            hk = next((k["AttributeName"] for k in schema if k["KeyType"] == "HASH"), None)
            rk = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
            return ([hk, types.get(hk, "S")] if hk else None), ([rk, types.get(rk, "S")] if rk else None)

        pk, sk = keys(t["KeySchema"])
        gsis = sorted([g["IndexName"], *keys(g["KeySchema"])] for g in t.get("GlobalSecondaryIndexes", []) or [])
        ttl = self.c("dynamodb").describe_time_to_live(TableName=r.name).get("TimeToLiveDescription", {})
        ttl_attr = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None
        return {"partitionKey": pk, "sortKey": sk, "gsis": gsis, "ttlAttribute": ttl_attr}

    def read_bucket(self, r: Bucket) -> dict[str, Any] | None:
        s3 = self.c("s3")
        try:
            s3.head_bucket(Bucket=r.name)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if _code(exc) in ("404", "NoSuchBucket") or status == 404:
                return None
            if _code(exc) in ("403", "AccessDenied") or status == 403:
                raise DeployError(f"bucket {r.name} exists but is not accessible (owned by another account?)") from exc
            raise
        try:
            block = s3.get_public_access_block(Bucket=r.name)["PublicAccessBlockConfiguration"]
            blocked = all(block.get(k) for k in _PUBLIC_ACCESS_BLOCK)
        except ClientError as exc:
            if _code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            blocked = False
        return {"publicAccessBlocked": blocked}

    def read_queue(self, r: Queue) -> dict[str, Any] | None:
        url = _absent(lambda: self.c("sqs").get_queue_url(QueueName=r.name)["QueueUrl"])
        if url is None:
            return None
        attrs = self.c("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else {}
        return {
            "visibilityTimeout": int(attrs.get("VisibilityTimeout", 30)),
            "dlqArn": redrive.get("deadLetterTargetArn"),
            "maxReceiveCount": int(redrive["maxReceiveCount"]) if redrive else None,
        }

    def read_role(self, r: Role) -> dict[str, Any] | None:
        role = _absent(lambda: self.c("iam").get_role(RoleName=r.name)["Role"])
        if role is None:
            return None
        trust = role.get("AssumeRolePolicyDocument")
        trust = json.loads(trust) if isinstance(trust, str) else trust
        pol = _absent(lambda: self.c("iam").get_role_policy(RoleName=r.name, PolicyName=INLINE_POLICY))
        doc = pol["PolicyDocument"] if pol else None
        doc = json.loads(doc) if isinstance(doc, str) else doc
        return {"trust": trust, "policy": doc}

    def read_function(self, r: Function) -> dict[str, Any] | None:
        cfg = _absent(lambda: self.c("lambda").get_function_configuration(FunctionName=r.name))
        if cfg is None:
            return None
        return {
            "handler": cfg.get("Handler"),
            "runtime": cfg.get("Runtime"),
            "timeout": cfg.get("Timeout"),
            "memory": cfg.get("MemorySize"),
            "environment": dict(sorted((cfg.get("Environment") or {}).get("Variables", {}).items())),
            "role": cfg.get("Role"),
            "codeSha256": cfg.get("CodeSha256"),
        }

    def read_function_url(self, r: FunctionUrl) -> dict[str, Any] | None:
        found = _absent(lambda: self.c("lambda").get_function_url_config(FunctionName=r.function))
        if found is None:
            return None
        return {"functionArn": found.get("FunctionArn"), "authType": found.get("AuthType")}

    def _mapping(self, r: EventSourceMapping) -> dict[str, Any] | None:
        resp = _absent(lambda: self.c("lambda").list_event_source_mappings(FunctionName=r.function))
        for m in (resp or {}).get("EventSourceMappings", []):
            if m.get("EventSourceArn") == self.ctx.queue_arn(r.queue):
                return m
        return None

    def read_event_source_mapping(self, r: EventSourceMapping) -> dict[str, Any] | None:
        m = self._mapping(r)
        if m is None:
            return None
        return {
            "functionArn": m.get("FunctionArn"),
            "queueArn": m.get("EventSourceArn"),
            "batchSize": m.get("BatchSize"),
            "reportBatchItemFailures": "ReportBatchItemFailures" in (m.get("FunctionResponseTypes") or []),
        }

    def read_schedule_group(self, r: ScheduleGroup) -> dict[str, Any] | None:
        found = _absent(lambda: self.c("scheduler").get_schedule_group(Name=r.name))
        return {} if found is not None else None

    def read_schedule(self, r: Schedule) -> dict[str, Any] | None:
        found = _absent(lambda: self.c("scheduler").get_schedule(Name=r.schedule, GroupName=r.group))
        if found is None:
            return None
        target = found.get("Target") or {}
        return {
            "expression": found.get("ScheduleExpression"),
            "targetArn": target.get("Arn"),
            "roleArn": target.get("RoleArn"),
            "input": target.get("Input") or "{}",
            "state": found.get("State"),
        }

    def read_log_group(self, r: LogGroup) -> dict[str, Any] | None:
        groups = self.c("logs").describe_log_groups(logGroupNamePrefix=r.name).get("logGroups", [])
        for g in groups:
            if g["logGroupName"] == r.name:
                return {"retentionDays": g.get("retentionInDays")}
        return None

    def read_state_machine(self, r: StateMachine) -> dict[str, Any] | None:
        arn = self.ctx.state_machine_arn(r.name)
        desc = _absent(lambda: self.c("stepfunctions").describe_state_machine(stateMachineArn=arn))
        if desc is None:
            return None
        return {"definition": json.loads(desc["definition"]), "role": desc.get("roleArn")}

    # ----------------------------------------------------------------------------------------- write
    def create(self, r: Resource) -> None:
        getattr(self, "create_" + r.kind.replace("-", "_"))(r)

    def update(self, r: Resource, diff: tuple[str, ...]) -> None:
        if "tags" in diff:
            self.put_tags(r)
            diff = tuple(d for d in diff if d != "tags")
        if diff:
            getattr(self, "update_" + r.kind.replace("-", "_"))(r, diff)

    def delete(self, kind: str, name: str) -> None:
        getattr(self, "delete_" + kind.replace("-", "_"))(name)

    # tables
    def create_table(self, r: Table) -> None:
        attrs = {r.partition_key.name: r.partition_key.type}
        schema = [{"AttributeName": r.partition_key.name, "KeyType": "HASH"}]
        if r.sort_key:
            attrs[r.sort_key.name] = r.sort_key.type
            schema.append({"AttributeName": r.sort_key.name, "KeyType": "RANGE"})
        gsis = []
        for g in r.gsis:
            attrs[g.partition_key.name] = g.partition_key.type
            ks = [{"AttributeName": g.partition_key.name, "KeyType": "HASH"}]
            if g.sort_key:
                attrs[g.sort_key.name] = g.sort_key.type
                ks.append({"AttributeName": g.sort_key.name, "KeyType": "RANGE"})
            gsis.append({"IndexName": g.name, "KeySchema": ks, "Projection": {"ProjectionType": "ALL"}})
        kwargs: dict[str, Any] = {
            "TableName": r.name,
            "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in sorted(attrs.items())],
            "KeySchema": schema,
            "BillingMode": "PAY_PER_REQUEST",
            "Tags": [{"Key": k, "Value": v} for k, v in self.tags().items()],
        }
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        ddb = self.c("dynamodb")
        ddb.create_table(**kwargs)
        ddb.get_waiter("table_exists").wait(TableName=r.name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        if r.ttl_attribute:
            ddb.update_time_to_live(
                TableName=r.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": r.ttl_attribute}
            )

    def update_table(self, r: Table, diff: tuple[str, ...]) -> None:
        if {"partitionKey", "sortKey"} & set(diff):
            raise DeployError(f"table {r.name}: changing the key schema needs the table replaced (destroy first)")
        current = self.read_table(r) or {}
        if "gsis" in diff:
            have = {g[0] for g in current.get("gsis", [])}
            for g in r.gsis:
                if g.name in have:
                    continue
                attrs = [{"AttributeName": g.partition_key.name, "AttributeType": g.partition_key.type}]
                ks = [{"AttributeName": g.partition_key.name, "KeyType": "HASH"}]
                if g.sort_key:
                    attrs.append({"AttributeName": g.sort_key.name, "AttributeType": g.sort_key.type})
                    ks.append({"AttributeName": g.sort_key.name, "KeyType": "RANGE"})
                self.c("dynamodb").update_table(
                    TableName=r.name,
                    AttributeDefinitions=attrs,
                    GlobalSecondaryIndexUpdates=[
                        {"Create": {"IndexName": g.name, "KeySchema": ks, "Projection": {"ProjectionType": "ALL"}}}
                    ],
                )
        if "ttlAttribute" in diff and r.ttl_attribute:
            self.c("dynamodb").update_time_to_live(
                TableName=r.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": r.ttl_attribute}
            )

    def delete_table(self, name: str) -> None:
        _absent(lambda: self.c("dynamodb").delete_table(TableName=name))

    # buckets (emptied before deletion)
    def create_bucket(self, r: Bucket) -> None:
        s3 = self.c("s3")
        kwargs: dict[str, Any] = {"Bucket": r.name}
        if self.ctx.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.ctx.region}
        s3.create_bucket(**kwargs)
        s3.put_bucket_tagging(Bucket=r.name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in self.tags().items()]})
        self.update_bucket(r, ("publicAccessBlocked",))

    def update_bucket(self, r: Bucket, diff: tuple[str, ...]) -> None:
        self.c("s3").put_public_access_block(
            Bucket=r.name, PublicAccessBlockConfiguration={k: True for k in _PUBLIC_ACCESS_BLOCK}
        )

    def delete_bucket(self, name: str) -> None:
        s3 = self.c("s3")
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
                keys = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                        for o in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if keys:
                    s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            s3.delete_bucket(Bucket=name)
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket":
                raise

    # queues
    def _queue_attrs(self, r: Queue) -> dict[str, str]:
        attrs = {"VisibilityTimeout": str(r.visibility_timeout)}
        if r.dlq:
            attrs["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": self.ctx.queue_arn(r.dlq), "maxReceiveCount": r.max_receive_count}
            )
        return attrs

    def create_queue(self, r: Queue) -> None:
        self.c("sqs").create_queue(QueueName=r.name, Attributes=self._queue_attrs(r), tags=self.tags())

    def update_queue(self, r: Queue, diff: tuple[str, ...]) -> None:
        url = self.c("sqs").get_queue_url(QueueName=r.name)["QueueUrl"]
        self.c("sqs").set_queue_attributes(QueueUrl=url, Attributes=self._queue_attrs(r))

    def delete_queue(self, name: str) -> None:
        url = _absent(lambda: self.c("sqs").get_queue_url(QueueName=name)["QueueUrl"])
        if url:
            _absent(lambda: self.c("sqs").delete_queue(QueueUrl=url))

    # roles
    def create_role(self, r: Role) -> None:
        self.c("iam").create_role(
            RoleName=r.name,
            AssumeRolePolicyDocument=json.dumps(r.trust_policy()),
            Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()],
        )
        self._put_policy(r)

    def _put_policy(self, r: Role) -> None:
        if r.permissions:
            self.c("iam").put_role_policy(
                RoleName=r.name, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(policy_document(r.permissions))
            )

    def update_role(self, r: Role, diff: tuple[str, ...]) -> None:
        if "trust" in diff:
            self.c("iam").update_assume_role_policy(RoleName=r.name, PolicyDocument=json.dumps(r.trust_policy()))
        if "policy" in diff:
            self._put_policy(r)

    def delete_role(self, name: str) -> None:
        iam = self.c("iam")
        names = _absent(lambda: iam.list_role_policies(RoleName=name)["PolicyNames"])
        if names is None:
            return
        for policy in names:
            _absent(iam.delete_role_policy, RoleName=name, PolicyName=policy)
        _absent(lambda: iam.delete_role(RoleName=name))

    # functions
    def create_function(self, r: Function) -> None:
        lam = self.c("lambda")
        lam.create_function(
            FunctionName=r.name,
            Runtime=r.runtime,
            Role=self.ctx.role_arn(r.role_name),
            Handler=r.handler,
            Code={"ZipFile": self.zip_bytes},
            Timeout=r.timeout,
            MemorySize=r.memory,
            Environment={"Variables": r.environment(self.ctx)},
            Tags=self.tags(),
        )
        self._wait_function(r.name)

    def _wait_function(self, name: str) -> None:
        for _ in range(120):
            cfg = self.c("lambda").get_function_configuration(FunctionName=name)
            if cfg.get("State", "Active") != "Pending" and cfg.get("LastUpdateStatus", "Successful") != "InProgress":
                return
            time.sleep(0.5)

    def update_function(self, r: Function, diff: tuple[str, ...]) -> None:
        lam = self.c("lambda")
        if "codeSha256" in diff:
            lam.update_function_code(FunctionName=r.name, ZipFile=self.zip_bytes)
            self._wait_function(r.name)
        if set(diff) - {"codeSha256"}:
            lam.update_function_configuration(
                FunctionName=r.name,
                Runtime=r.runtime,
                Role=self.ctx.role_arn(r.role_name),
                Handler=r.handler,
                Timeout=r.timeout,
                MemorySize=r.memory,
                Environment={"Variables": r.environment(self.ctx)},
            )
            self._wait_function(r.name)

    def delete_function(self, name: str) -> None:
        _absent(lambda: self.c("lambda").delete_function(FunctionName=name))

    # function URLs (and, for AuthType NONE, the resource policy that lets callers use the URL)
    def create_function_url(self, r: FunctionUrl) -> None:
        lam = self.c("lambda")
        lam.create_function_url_config(FunctionName=r.function, AuthType=r.auth_type)
        if r.auth_type == "NONE":
            for statement, extra in ((FUNCTION_URL_STATEMENT, {"Action": "lambda:InvokeFunctionUrl",
                                                               "FunctionUrlAuthType": "NONE"}),
                                     (FUNCTION_URL_INVOKE_STATEMENT, {"Action": "lambda:InvokeFunction",
                                                                      "InvokedViaFunctionUrl": True})):
                try:
                    lam.add_permission(FunctionName=r.function, StatementId=statement, Principal="*", **extra)
                except ClientError as exc:
                    if _code(exc) != "ResourceConflictException":  # the statement is there already
                        raise

    def update_function_url(self, r: FunctionUrl, diff: tuple[str, ...]) -> None:
        self.c("lambda").update_function_url_config(FunctionName=r.function, AuthType=r.auth_type)

    def delete_function_url(self, name: str) -> None:
        lam = self.c("lambda")
        _absent(lambda: lam.delete_function_url_config(FunctionName=name))
        for statement in (FUNCTION_URL_STATEMENT, FUNCTION_URL_INVOKE_STATEMENT):
            _absent(lam.remove_permission, FunctionName=name, StatementId=statement)

    # event source mappings
    def create_event_source_mapping(self, r: EventSourceMapping) -> None:
        self.c("lambda").create_event_source_mapping(
            FunctionName=r.function,
            EventSourceArn=self.ctx.queue_arn(r.queue),
            BatchSize=r.batch_size,
            FunctionResponseTypes=["ReportBatchItemFailures"] if r.report_batch_item_failures else [],
            Enabled=True,
        )

    def update_event_source_mapping(self, r: EventSourceMapping, diff: tuple[str, ...]) -> None:
        m = self._mapping(r)
        assert m is not None
        self.c("lambda").update_event_source_mapping(
            UUID=m["UUID"],
            BatchSize=r.batch_size,
            FunctionResponseTypes=["ReportBatchItemFailures"] if r.report_batch_item_failures else [],
        )

    def delete_event_source_mapping(self, name: str) -> None:
        queue, function = name.split("->", 1)
        m = self._mapping(EventSourceMapping(function=function, queue=queue))
        if m is not None:
            _absent(lambda: self.c("lambda").delete_event_source_mapping(UUID=m["UUID"]))

    # schedule groups (schedules inside are deleted first)
    def create_schedule_group(self, r: ScheduleGroup) -> None:
        self.c("scheduler").create_schedule_group(
            Name=r.name, Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()]
        )

    def update_schedule_group(self, r: ScheduleGroup, diff: tuple[str, ...]) -> None:
        return None

    def delete_schedules(self, group: str) -> int:
        sch = self.c("scheduler")
        deleted = 0
        token = None
        names: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"GroupName": group}
            if token:
                kwargs["NextToken"] = token
            resp = _absent(sch.list_schedules, **kwargs)
            if resp is None:
                break
            names += [s["Name"] for s in resp.get("Schedules", [])]
            token = resp.get("NextToken")
            if not token:
                break
        for name in names:
            if _absent(sch.delete_schedule, Name=name, GroupName=group) is not None:
                deleted += 1
        return deleted

    def delete_schedule_group(self, name: str) -> None:
        self.delete_schedules(name)
        _absent(lambda: self.c("scheduler").delete_schedule_group(Name=name))

    # schedules
    def create_schedule(self, r: Schedule, update: bool = False) -> None:
        call = self.c("scheduler").update_schedule if update else self.c("scheduler").create_schedule
        call(
            Name=r.schedule,
            GroupName=r.group,
            ScheduleExpression=r.expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": self.ctx.function_arn(r.function), "RoleArn": self.ctx.role_arn(r.role), "Input": r.input},
            State="ENABLED",
        )

    def update_schedule(self, r: Schedule, diff: tuple[str, ...]) -> None:
        self.create_schedule(r, update=True)

    def delete_schedule(self, name: str) -> None:
        group, schedule = name.split("/", 1)
        _absent(lambda: self.c("scheduler").delete_schedule(Name=schedule, GroupName=group))

    # log groups
    def create_log_group(self, r: LogGroup) -> None:
        self.c("logs").create_log_group(logGroupName=r.name, tags=self.tags())
        if r.retention_days:
            self.c("logs").put_retention_policy(logGroupName=r.name, retentionInDays=r.retention_days)

    def update_log_group(self, r: LogGroup, diff: tuple[str, ...]) -> None:
        if r.retention_days:
            self.c("logs").put_retention_policy(logGroupName=r.name, retentionInDays=r.retention_days)

    def delete_log_group(self, name: str) -> None:
        _absent(lambda: self.c("logs").delete_log_group(logGroupName=name))

    # state machines
    def create_state_machine(self, r: StateMachine) -> None:
        self.c("stepfunctions").create_state_machine(
            name=r.name,
            definition=json.dumps(r.definition()),
            roleArn=self.ctx.role_arn(r.role),
            type="STANDARD",
            tags=[{"key": k, "value": v} for k, v in self.tags().items()],
        )

    def update_state_machine(self, r: StateMachine, diff: tuple[str, ...]) -> None:
        self.c("stepfunctions").update_state_machine(
            stateMachineArn=self.ctx.state_machine_arn(r.name),
            definition=json.dumps(r.definition()),
            roleArn=self.ctx.role_arn(r.role),
        )

    def delete_state_machine(self, name: str) -> None:
        _absent(lambda: self.c("stepfunctions").delete_state_machine(stateMachineArn=self.ctx.state_machine_arn(name)))

    # SNS topics
    def read_topic(self, r: Topic) -> dict[str, Any] | None:
        found = _absent(lambda: self.c("sns").get_topic_attributes(TopicArn=self.ctx.topic_arn(r.name)))
        return {} if found is not None else None

    def create_topic(self, r: Topic) -> None:
        self.c("sns").create_topic(Name=r.name, Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()])

    def update_topic(self, r: Topic, diff: tuple[str, ...]) -> None:
        return None

    def delete_topic(self, name: str) -> None:
        _absent(lambda: self.c("sns").delete_topic(TopicArn=self.ctx.topic_arn(name)))

    # CloudWatch alarms
    def read_alarm(self, r: Alarm) -> dict[str, Any] | None:
        found = self.c("cloudwatch").describe_alarms(AlarmNames=[r.name], AlarmTypes=["MetricAlarm"])
        alarm = next((a for a in found.get("MetricAlarms", []) if a["AlarmName"] == r.name), None)
        return alarm_properties(alarm) if alarm is not None else None

    def create_alarm(self, r: Alarm) -> None:
        self.c("cloudwatch").put_metric_alarm(**alarm_request(r, self.ctx),
                                              Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()])

    def update_alarm(self, r: Alarm, diff: tuple[str, ...]) -> None:
        self.c("cloudwatch").put_metric_alarm(**alarm_request(r, self.ctx))  # replaces the definition, keeps the state

    def delete_alarm(self, name: str) -> None:
        self.c("cloudwatch").delete_alarms(AlarmNames=[name])

    # CloudWatch dashboards
    def read_dashboard(self, r: Dashboard) -> dict[str, Any] | None:
        found = _absent(lambda: self.c("cloudwatch").get_dashboard(DashboardName=r.name))
        return {"body": json.loads(found["DashboardBody"])} if found is not None else None

    def create_dashboard(self, r: Dashboard) -> None:
        self.c("cloudwatch").put_dashboard(DashboardName=r.name, DashboardBody=r.body)

    def update_dashboard(self, r: Dashboard, diff: tuple[str, ...]) -> None:
        self.create_dashboard(r)

    def delete_dashboard(self, name: str) -> None:
        _absent(lambda: self.c("cloudwatch").delete_dashboards(DashboardNames=[name]))

    # secrets the stack reads (never created nor read by the deployer: only their existence is checked)
    def secret_problem(self, ref: str) -> str | None:
        service, _, name = ref.partition(":")
        try:
            if service == "secretsmanager":
                self.c("secretsmanager").describe_secret(SecretId=name)
                return None
            parameter = self.c("ssm").get_parameter(Name=name, WithDecryption=False)["Parameter"]
        except ClientError as exc:
            if _code(exc) in {"ResourceNotFoundException", "ParameterNotFound"}:
                where = "Secrets Manager" if service == "secretsmanager" else "SSM Parameter Store"
                return f"{ref} does not exist in {where} on the target (create it before deploying)"
            return f"cannot look up {ref}: {_code(exc)}: {exc}"
        if parameter.get("Type") != "SecureString":
            return f"{ref} is an SSM parameter of type {parameter.get('Type')}, not SecureString"
        return None

    # ------------------------------------------------------------------------------ managed inventory
    def managed_existing(self) -> set[tuple[str, str]]:
        """Resources in the target tagged as this stack's (functions, tables, state machines, topics, alarms)."""
        found: set[tuple[str, str]] = set()
        lam = self.c("lambda")
        for page in lam.get_paginator("list_functions").paginate():
            for f in page.get("Functions", []):
                tags = (_absent(lam.list_tags, Resource=f["FunctionArn"]) or {}).get("Tags", {})
                if tags.get(MANAGED_TAG) == self.ctx.stack_name:
                    found.add(("function", f["FunctionName"]))
        ddb = self.c("dynamodb")
        for page in ddb.get_paginator("list_tables").paginate():
            for name in page.get("TableNames", []):
                tags = (_absent(ddb.list_tags_of_resource, ResourceArn=self.ctx.table_arn(name)) or {}).get("Tags", [])
                if {t["Key"]: t["Value"] for t in tags}.get(MANAGED_TAG) == self.ctx.stack_name:
                    found.add(("table", name))
        sfn = self.c("stepfunctions")
        for page in sfn.get_paginator("list_state_machines").paginate():
            for sm in page.get("stateMachines", []):
                tags = (_absent(sfn.list_tags_for_resource, resourceArn=sm["stateMachineArn"]) or {}).get("tags", [])
                if {t["key"]: t["value"] for t in tags or []}.get(MANAGED_TAG) == self.ctx.stack_name:
                    found.add(("state-machine", sm["name"]))
        sns = self.c("sns")
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                tags = (_absent(sns.list_tags_for_resource, ResourceArn=topic["TopicArn"]) or {}).get("Tags", [])
                if {t["Key"]: t["Value"] for t in tags}.get(MANAGED_TAG) == self.ctx.stack_name:
                    found.add(("topic", topic["TopicArn"].rsplit(":", 1)[-1]))
        cw = self.c("cloudwatch")
        for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                tags = (_absent(cw.list_tags_for_resource, ResourceARN=alarm["AlarmArn"]) or {}).get("Tags", [])
                if {t["Key"]: t["Value"] for t in tags}.get(MANAGED_TAG) == self.ctx.stack_name:
                    found.add(("alarm", alarm["AlarmName"]))
        return found


def _dimensions(dims: list[dict[str, str]] | None) -> dict[str, str]:
    return dict(sorted((d["Name"], d["Value"]) for d in dims or []))


def alarm_request(r: Alarm, ctx: StackContext) -> dict[str, Any]:
    """The ``PutMetricAlarm`` request for ``r``."""
    p = r.properties(ctx)
    req: dict[str, Any] = {
        "AlarmName": r.name, "AlarmDescription": p["description"], "ComparisonOperator": p["comparison"],
        "Threshold": p["threshold"], "EvaluationPeriods": p["evaluationPeriods"],
        "DatapointsToAlarm": p["datapointsToAlarm"], "TreatMissingData": p["treatMissingData"],
        "AlarmActions": p["alarmActions"], "OKActions": p["okActions"], "ActionsEnabled": True,
    }
    if p["metric"] is not None:
        m = p["metric"]
        req.update(Namespace=m["namespace"], MetricName=m["metricName"], Statistic=m["statistic"],
                   Period=m["period"], Dimensions=[{"Name": k, "Value": v} for k, v in m["dimensions"].items()])
        return req
    queries = []
    for q in p["queries"]:
        if "expression" in q:
            query = {"Id": q["id"], "Expression": q["expression"], "ReturnData": q["returnData"]}
            if q["label"]:
                query["Label"] = q["label"]
        else:
            query = {"Id": q["id"], "ReturnData": q["returnData"], "MetricStat": {
                "Metric": {"Namespace": q["namespace"], "MetricName": q["metricName"],
                           "Dimensions": [{"Name": k, "Value": v} for k, v in q["dimensions"].items()]},
                "Period": q["period"], "Stat": q["stat"]}}
        queries.append(query)
    req["Metrics"] = queries
    return req


def alarm_properties(a: dict[str, Any]) -> dict[str, Any]:
    """A ``DescribeAlarms`` metric alarm in the shape of :meth:`Alarm.properties`."""
    queries = None
    if a.get("Metrics"):
        queries = []
        for q in a["Metrics"]:
            if q.get("Expression") is not None:
                queries.append({"id": q["Id"], "expression": q["Expression"], "label": q.get("Label"),
                                "returnData": q.get("ReturnData", True)})
            else:
                stat = q.get("MetricStat") or {}
                metric = stat.get("Metric") or {}
                queries.append({"id": q["Id"], "namespace": metric.get("Namespace"),
                                "metricName": metric.get("MetricName"),
                                "dimensions": _dimensions(metric.get("Dimensions")), "stat": stat.get("Stat"),
                                "period": stat.get("Period"), "returnData": q.get("ReturnData", True)})
    return {
        "description": a.get("AlarmDescription"),
        "comparison": a.get("ComparisonOperator"),
        "threshold": float(a["Threshold"]) if a.get("Threshold") is not None else None,
        "evaluationPeriods": a.get("EvaluationPeriods"),
        "datapointsToAlarm": a.get("DatapointsToAlarm") or a.get("EvaluationPeriods"),
        "treatMissingData": a.get("TreatMissingData") or "missing",
        "alarmActions": sorted(a.get("AlarmActions") or []),
        "okActions": sorted(a.get("OKActions") or []),
        "metric": None if queries is not None else {
            "namespace": a.get("Namespace"), "metricName": a.get("MetricName"),
            "dimensions": _dimensions(a.get("Dimensions")), "statistic": a.get("Statistic"),
            "period": a.get("Period")},
        "queries": sorted(queries, key=lambda q: q["id"]) if queries is not None else None,
    }


class DeployError(RuntimeError):
    """The stack cannot be deployed as specified."""


@dataclass
class ApplyResult:
    plan: Plan
    applied: list[Change]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "applied": [c.to_dict() for c in self.applied],
            "seconds": round(self.seconds, 3),
            "noChanges": not self.plan.has_changes,
        }


def context_for(target: Target, stack_name: str = "sfn-callback") -> StackContext:
    account = make_client("sts", target).get_caller_identity()["Account"]
    return StackContext(account_id=account, region=target.region, local=target.is_local, stack_name=stack_name)


class ConfigurationRefused(ValueError):
    """The stack's configuration cannot work on this target; nothing was planned or changed."""

    def __init__(self, problems: list[str]):
        super().__init__("the configuration cannot work: " + "; ".join(problems))
        self.problems = problems


class Deployer:
    def __init__(self, target: Target, stack: Stack | None = None, drivers: Drivers | None = None):
        self.target = target
        ctx = stack.ctx if stack is not None else context_for(target)
        self.stack = stack if stack is not None else build_stack(ctx)
        self.drivers = drivers or Drivers(target, self.stack.ctx)

    def refusals(self) -> list[str]:
        """Why the stack cannot work on this target: its components' configuration problems, and the secrets
        it reads that the target does not hold (each a sentence naming what to fix)."""
        found = list(self.stack.problems)
        for secret in self.stack.secrets:
            if secret.optional_locally and self.stack.ctx.local:
                continue
            missing = self.drivers.secret_problem(secret.ref)
            if missing:
                found.append(f"{secret.purpose}: {missing}")
        return found

    def plan(self, detect_deletes: bool = True) -> Plan:
        refusals = self.refusals()
        if refusals:
            raise ConfigurationRefused(refusals)
        desired = [(r.kind, r.name, self.drivers.desired(r)) for r in self.stack.ordered()]
        current = {(r.kind, r.name): self.drivers.read(r) for r in self.stack.ordered()}
        managed = self.drivers.managed_existing() if detect_deletes else set()
        return compute_plan(desired, current, managed)

    def apply(self, plan: Plan | None = None, progress: Callable[[Change], None] | None = None) -> ApplyResult:
        started = time.monotonic()
        plan = plan or self.plan()
        by_key = {(r.kind, r.name): r for r in self.stack.ordered()}
        applied: list[Change] = []
        for change in plan.changes:
            if change.action == UNCHANGED:
                continue
            if progress:
                progress(change)
            if change.action == CREATE:
                self.drivers.create(by_key[(change.kind, change.name)])
            elif change.action == UPDATE:
                self.drivers.update(by_key[(change.kind, change.name)], change.differences)
            elif change.action == DELETE:
                self.drivers.delete(change.kind, change.name)
            applied.append(change)
        return ApplyResult(plan, applied, time.monotonic() - started)

    def destroy(self, progress: Callable[[Change], None] | None = None) -> list[Change]:
        """Remove every resource of the stack: schedules first, then in reverse creation order."""
        removed: list[Change] = []
        for r in self.stack.find("schedule"):  # the stack's own schedules, reported as removed
            if self.drivers.read(r) is not None:
                change = Change(DELETE, r.kind, r.name)
                if progress:
                    progress(change)
                self.drivers.delete(r.kind, r.name)
                removed.append(change)
        for group in self.stack.find("schedule-group"):
            self.drivers.delete_schedules(group.name)
        for r in reversed(self.stack.ordered()):
            if self.drivers.read(r) is None:
                continue
            change = Change(DELETE, r.kind, r.name)
            if progress:
                progress(change)
            self.drivers.delete(r.kind, r.name)
            removed.append(change)
        return removed


def ensure_deployed(target: Target, progress: Callable[[str], None]) -> None:
    """Apply the stack to ``target`` if its plan has changes (deletes are not looked for)."""
    deployer = Deployer(target)
    plan = deployer.plan(detect_deletes=False)
    if plan.has_changes:
        progress("deploying the stack (callback, polling and sweep workflows)")
        deployer.apply(plan)
