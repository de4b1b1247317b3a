"""``sfn-callback bench cloud``: figures for the local cloud, with bare moto measured in the same run.

Prints, asserts nothing about time: up-to-healthy, cold and warm invoke latency of a trivial function in
Python and in Node.js (the same run, warm rounds alternating between the two so machine noise hits both, with
the Node.js/Python ratio), and SendTaskSuccess -> SUCCEEDED latency on our local cloud and on bare moto (same
flow, alternating rounds), as a ratio.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
import zipfile
from typing import Any

import boto3
from botocore.config import Config
from rich.console import Console
from rich.table import Table

from sfn_callback.localcloud import process, runtimes

TRIVIAL = "def handler(event, context):\n    return {'ok': True, 'n': event.get('n')}\n"
TRIVIAL_NODE = "exports.handler = async (event) => ({ ok: true, n: event.n });\n"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(pct / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 2), "p99_ms": round(percentile(values, 99), 2),
            "mean_ms": round(statistics.fmean(values), 2), "max_ms": round(max(values), 2)}


def _client(endpoint: str, service: str) -> Any:
    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test").client(
        service, region_name="us-east-1", endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 2}, max_pool_connections=20))


def _zip(source: str, name: str = "app.py") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


def _role(endpoint: str) -> str:
    iam = _client(endpoint, "iam")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                         "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]})
    try:
        return iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=policy)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName="bench-role")["Role"]["Arn"]


class CallbackProbe:
    """A waitForTaskToken workflow whose token arrives on SQS; times SendTaskSuccess -> SUCCEEDED."""

    def __init__(self, endpoint: str) -> None:
        self.sfn = _client(endpoint, "stepfunctions")
        self.sqs = _client(endpoint, "sqs")
        self.queue = self.sqs.create_queue(QueueName=f"bench-tokens-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        self.machine = self.sfn.create_state_machine(
            name=f"bench-callback-{uuid.uuid4().hex[:6]}", roleArn=_role(endpoint),
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {
                "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": self.queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 120, "End": True}}}))["stateMachineArn"]

    def once(self) -> float:
        execution = self.sfn.start_execution(stateMachineArn=self.machine, name=f"b-{uuid.uuid4()}", input="{}")
        token = None
        deadline = time.monotonic() + 30
        while token is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the task token never reached the queue")
            for message in self.sqs.receive_message(QueueUrl=self.queue, WaitTimeSeconds=1).get("Messages", []):
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
                token = json.loads(message["Body"])["token"]
        started = time.perf_counter()
        self.sfn.send_task_success(taskToken=token, output='{"done": true}')
        while self.sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "SUCCEEDED":
            if time.perf_counter() - started > 30:
                raise TimeoutError("the execution did not resume")
            time.sleep(0.001)
        return (time.perf_counter() - started) * 1000


def start_bare_moto() -> tuple[subprocess.Popen[Any], str]:
    port = process.free_port()
    env = {**os.environ, "MOTO_PORT": str(port), "MOTO_ACCOUNT_ID": "000000000000"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 30
    while True:
        try:
            request = urllib.request.Request(f"{endpoint}/moto-api/config", method="POST",
                                             data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode())
            urllib.request.urlopen(request, timeout=1).read()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("bare moto did not start") from None
            time.sleep(0.05)


def run_cloud_bench(invokes: int = 200, callbacks: int = 100, colds: int = 5,
                    progress: Console | None = None) -> dict[str, Any]:
    say = progress.log if progress else (lambda *a, **k: None)
    port = process.free_port()
    started = time.perf_counter()
    proc, endpoint = process.start_detached("127.0.0.1", port, log_path=os.devnull, timeout=60)
    up_seconds = time.perf_counter() - started
    bare_proc = None
    try:
        say(f"local cloud healthy in {up_seconds:.2f} s at {endpoint}")
        lam = _client(endpoint, "lambda")
        role = _role(endpoint)
        node = runtimes.node_info()
        functions = {"python": ("bench-trivial", "python3.11", "app.handler", TRIVIAL, "app.py", "# version {i}\n")}
        if node.usable:
            runtimes.NODE_SDK.wait()  # fetched once per machine; not part of a cold start's figure
            functions["node"] = ("bench-trivial-node", "nodejs20.x", "index.handler", TRIVIAL_NODE, "index.js",
                                 "// version {i}\n")
        else:
            say(f"Node.js not measured: {node.error}")
        for name, runtime, handler, source, filename, _ in functions.values():
            lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler=handler,
                                Code={"ZipFile": _zip(source, filename)}, Timeout=10)
        cold: dict[str, list[float]] = {kind: [] for kind in functions}
        for i in range(colds):
            for kind, (name, _, _, source, filename, marker) in functions.items():
                if i:  # a new code version: the next invoke starts a new environment
                    lam.update_function_code(FunctionName=name, ZipFile=_zip(source + marker.format(i=i), filename))
                t0 = time.perf_counter()
                lam.invoke(FunctionName=name, Payload=b'{"n": 0}')["Payload"].read()
                cold[kind].append((time.perf_counter() - t0) * 1000)
        say(f"{colds} cold invokes of each runtime done")
        warm: dict[str, list[float]] = {kind: [] for kind in functions}
        for i in range(invokes):
            for kind, (name, *_rest) in functions.items():  # alternating: noise hits both runtimes alike
                t0 = time.perf_counter()
                lam.invoke(FunctionName=name, Payload=json.dumps({"n": i}).encode())["Payload"].read()
                warm[kind].append((time.perf_counter() - t0) * 1000)
        say(f"{invokes} warm invokes of each runtime done")

        bare_proc, bare_endpoint = start_bare_moto()
        ours_probe, bare_probe = CallbackProbe(endpoint), CallbackProbe(bare_endpoint)
        ours_probe.once(), bare_probe.once()  # warm both paths
        ours: list[float] = []
        bare: list[float] = []
        for i in range(callbacks):
            ours.append(ours_probe.once())
            bare.append(bare_probe.once())
            if progress and (i + 1) % 25 == 0:
                say(f"{i + 1}/{callbacks} callback round trips on each")
    finally:
        process.stop_process(proc.pid)
        if bare_proc is not None:
            bare_proc.kill()
            bare_proc.wait()
    result = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "up_to_healthy_s": round(up_seconds, 3),
        "invoke_cold": summary(cold["python"]),
        "invoke_warm": summary(warm["python"]),
        "node": {"version": node.version, "executable": node.path} if node.usable else {"error": node.error},
        "invoke_cold_node": summary(cold["node"]) if "node" in cold else None,
        "invoke_warm_node": summary(warm["node"]) if "node" in warm else None,
        "node_python_warm_ratio_p50": round(percentile(warm["node"], 50) / percentile(warm["python"], 50), 3)
        if "node" in warm else None,
        "callback_ours": summary(ours),
        "callback_bare_moto": summary(bare),
        "callback_ratio_p50": round(percentile(ours, 50) / percentile(bare, 50), 3),
        "callback_ratio_p99": round(percentile(ours, 99) / percentile(bare, 99), 3),
        "targets": {"up_to_healthy_s": 3.0, "invoke_warm_p50_ms": 15.0, "callback_ratio_p50": 1.2,
                    "node_python_warm_ratio_p50": 2.0},
    }
    return result


def render(result: dict[str, Any], console: Console) -> None:
    table = Table(title="Local cloud benchmark")
    table.add_column("figure")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("n", justify="right")
    for label, key in (("invoke, cold (Python)", "invoke_cold"), ("invoke, warm (Python)", "invoke_warm"),
                       ("invoke, cold (Node.js)", "invoke_cold_node"), ("invoke, warm (Node.js)", "invoke_warm_node"),
                       ("SendTaskSuccess -> SUCCEEDED (ours)", "callback_ours"),
                       ("SendTaskSuccess -> SUCCEEDED (bare moto)", "callback_bare_moto")):
        row = result[key]
        if row is None:
            continue
        table.add_row(label, f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}", str(row["n"]))
    console.print(table)
    targets = result["targets"]
    console.print(f"up to healthy: {result['up_to_healthy_s']:.2f} s (target < {targets['up_to_healthy_s']} s)")
    console.print(f"warm invoke p50: {result['invoke_warm']['p50_ms']:.1f} ms (target < {targets['invoke_warm_p50_ms']} ms)")
    if result.get("node_python_warm_ratio_p50") is not None:
        console.print(f"warm invoke Node.js ({result['node']['version']}) / Python p50: "
                      f"x{result['node_python_warm_ratio_p50']:.2f} (target within x{targets['node_python_warm_ratio_p50']})")
    else:
        console.print(f"Node.js not measured: {result['node'].get('error')}")
    console.print(f"callback latency ours / bare moto: p50 x{result['callback_ratio_p50']:.2f}, "
                  f"p99 x{result['callback_ratio_p99']:.2f} (target p50 within x{targets['callback_ratio_p50']})")
