"""Running the local cloud as a process: foreground, detached with a PID file, waiting for health."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from sfn_callback.localcloud.defaults import state_dir


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # moto and werkzeug are chatty per request; keep our own lines readable.
    for noisy in ("werkzeug", "botocore", "urllib3", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve_forever(host: str, port: int, **config: Any) -> int:
    """Run the local cloud until Ctrl-C or SIGTERM; prints how to point clients at it."""
    from sfn_callback.localcloud.server import LocalCloud, LocalCloudConfig

    configure_logging()
    cloud = LocalCloud(LocalCloudConfig.from_env(host=host, port=port, **config))
    cloud.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(connection_help(cloud.endpoint_url), flush=True)
    owner = _owner_pid()
    try:
        while not stop.wait(0.5):
            if owner is not None and not _alive(owner):
                print(f"the process that started this local cloud (pid {owner}) is gone; stopping", flush=True)
                break
    finally:
        cloud.stop()
    return 0


OWNER_ENV = "SFN_CALLBACK_OWNER_PID"


def _owner_pid() -> int | None:
    """The process this local cloud serves, when it was started for one (a test session, a benchmark, the
    demo): it stops when that process is gone, so a killed run leaves no local cloud behind."""
    raw = os.environ.get(OWNER_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 1 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def connection_help(endpoint: str) -> str:
    return (
        f"Local cloud running at {endpoint} (account 000000000000, region us-east-1). Ctrl-C stops it.\n"
        f"  boto3:   boto3.client('dynamodb', endpoint_url='{endpoint}', region_name='us-east-1',\n"
        f"                        aws_access_key_id='test', aws_secret_access_key='test')\n"
        f"  aws CLI: export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1\n"
        f"           aws --endpoint-url={endpoint} dynamodb list-tables\n"
        f"  or:      export AWS_ENDPOINT_URL={endpoint}  (boto3 and the aws CLI both honour it)\n"
        f"  health:  curl {endpoint}/health"
    )


def health(endpoint: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/health", timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_healthy(endpoint: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the local cloud exited with status {proc.returncode} before it was healthy")
        status = health(endpoint, timeout=0.5)
        if status and status.get("status") == "running":
            return status
        time.sleep(0.05)
    raise TimeoutError(f"the local cloud at {endpoint} was not healthy within {timeout:.0f} s")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_file(port: int) -> str:
    return os.path.join(state_dir(), f"localcloud-{port}.pid")


def start_detached(host: str, port: int, log_path: str | None = None, env: dict[str, str] | None = None,
                   timeout: float = 30.0, owned: bool = True) -> tuple[subprocess.Popen[Any], str]:
    """Start ``sfn-callback up`` in the background; returns the process and its endpoint once healthy.

    ``owned`` (the default): the local cloud stops by itself when this process is gone (a benchmark or a test
    session killed half-way leaves nothing running); ``up --detach`` passes ``False``, its cloud outlives it."""
    endpoint = f"http://{host}:{port}"
    if health(endpoint):
        raise RuntimeError(f"something already answers at {endpoint}")
    log_path = log_path or os.path.join(state_dir(), f"localcloud-{port}.log")
    log_file = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfn_callback.cli.main", "up", "--host", host, "--port", str(port)],
        stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, OWNER_ENV: str(os.getpid()) if owned else "", **(env or {})},
    )
    log_file.close()
    try:
        wait_healthy(endpoint, timeout, proc)
    except Exception:
        stop_process(proc.pid)
        raise
    with open(pid_file(port), "w") as handle:
        handle.write(str(proc.pid))
    return proc, endpoint


def stop_process(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return True
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def stop_detached(port: int) -> bool:
    path = pid_file(port)
    if not os.path.exists(path):
        return False
    with open(path) as handle:
        pid = int(handle.read().strip() or 0)
    if pid:
        stop_process(pid)
    os.remove(path)
    return True
