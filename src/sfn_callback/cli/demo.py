"""``sfn-callback demo``: the main job on the embedded local cloud, start to finish, then stop."""

from __future__ import annotations

import json
import time
import uuid

import typer

from sfn_callback.cli.common import out_console


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("demo")(demo)


SAMPLE = (
    "import os, boto3\n"
    "def handler(event, context):\n"
    "    boto3.client('dynamodb').update_item(TableName=os.environ['TABLE'], Key={'pk': {'S': 'demo'}},\n"
    "        UpdateExpression='ADD fired :one', ExpressionAttributeValues={':one': {'N': '1'}})\n"
    "    return {'fired': True}\n"
)


def demo(seconds: float = typer.Option(4.0, "--seconds", help="How long to watch the schedule fire.")) -> None:
    """Start the local cloud, deploy a sample function and a rate(1 second) schedule, watch it fire, stop."""
    from sfn_callback.localcloud import process

    console = out_console
    port = process.free_port()
    started = time.perf_counter()
    proc, endpoint = process.start_detached("127.0.0.1", port)
    console.print(f"[bold]local cloud[/] healthy at {endpoint} in {time.perf_counter() - started:.2f} s")
    try:
        from sfn_callback.config import LOCAL_CREDENTIALS

        import boto3

        session = boto3.session.Session(region_name="us-east-1", **LOCAL_CREDENTIALS)
        ddb, lam, iam, scheduler = (session.client(s, endpoint_url=endpoint)
                                    for s in ("dynamodb", "lambda", "iam", "scheduler"))
        ddb.create_table(TableName="demo-fired", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        role = iam.create_role(RoleName="demo-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        from sfn_callback.localcloud.bench import _zip

        arn = lam.create_function(FunctionName="demo-counter", Runtime="python3.11", Role=role, Handler="app.handler",
                                  Code={"ZipFile": _zip(SAMPLE)}, Environment={"Variables": {"TABLE": "demo-fired"}},
                                  )["FunctionArn"]
        scheduler.create_schedule(Name=f"demo-{uuid.uuid4().hex[:6]}", ScheduleExpression="rate(1 second)",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": arn, "RoleArn": role})
        console.print("deployed function [bold]demo-counter[/] and schedule [bold]rate(1 second)[/]")
        deadline = time.monotonic() + seconds
        fired = 0
        while time.monotonic() < deadline:
            time.sleep(1)
            item = ddb.get_item(TableName="demo-fired", Key={"pk": {"S": "demo"}}, ConsistentRead=True).get("Item")
            fired = int(item["fired"]["N"]) if item else 0
            console.print(f"  schedule fired the function {fired} time(s)")
        if fired == 0:
            console.print("[red]the schedule never fired[/]")
            raise typer.Exit(1)
    finally:
        process.stop_process(proc.pid)
        console.print("local cloud stopped")
