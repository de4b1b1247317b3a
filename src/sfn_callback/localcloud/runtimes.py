"""The runtimes the local cloud runs, and how each one's bootstrap is started against the Runtime API.

| Runtime | what runs |
| --- | --- |
| ``python3.9`` .. ``python3.13`` | our Python bootstrap (:mod:`lambda_worker`) on this machine's Python (the local cloud's own) |
| ``nodejs18.x``, ``nodejs20.x``, ``nodejs22.x`` | our Node.js bootstrap (``node/bootstrap.js``) on this machine's ``node`` (18 or later) |
| ``provided``, ``provided.al2``, ``provided.al2023`` | the function's own ``bootstrap`` executable (Go, Rust, shell...) |

Any other runtime is refused at CreateFunction, as AWS refuses a runtime it does not offer. The AWS SDK for
JavaScript v3, which the Node.js 18+ runtimes provide, is fetched once from the npm registry into a cache
(:class:`NodeSdk`) and resolved after the function's own ``node_modules``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("sfn_callback.localcloud.lambda")

PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x")
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
SUPPORTED_RUNTIMES = PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES
MIN_NODE_MAJOR = 18

RUNTIME_DIR = Path(__file__).resolve().parent  # our bootstraps; shown as /var/runtime in errors
NODE_BOOTSTRAP = RUNTIME_DIR / "node" / "bootstrap.js"
PYTHON_BOOTSTRAP = RUNTIME_DIR / "lambda_worker.py"

# The AWS SDK for JavaScript v3 packages the runtime provides (one pinned release of the clients a function
# of this pattern calls, and their dependencies); a function that bundles its own copy uses that.
NODE_SDK_VERSION = "3.1162.0"
NODE_SDK_PACKAGES = ("client-dynamodb", "lib-dynamodb", "client-sfn", "client-lambda", "client-sqs", "client-s3",
                     "client-scheduler", "client-sns", "client-eventbridge", "client-cloudwatch-logs", "client-ssm",
                     "client-secrets-manager", "client-sts")


def family(runtime: str | None) -> str | None:
    """``python``, ``node``, ``provided``, or None for a runtime the local cloud does not run."""
    if runtime in PYTHON_RUNTIMES:
        return "python"
    if runtime in NODE_RUNTIMES:
        return "node"
    if runtime in PROVIDED_RUNTIMES:
        return "provided"
    return None


def unsupported_message(runtime: str | None) -> str:
    return (f"The runtime parameter of {runtime} is not supported for creating or updating functions on this "
            f"local cloud. Supported runtimes: {', '.join(SUPPORTED_RUNTIMES)}.")


@dataclass(frozen=True)
class NodeInfo:
    path: str | None
    version: str | None  # "v20.20.2"
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.path is not None and self.error is None


_node_lock = threading.Lock()
_node: NodeInfo | None = None


def node_info(refresh: bool = False) -> NodeInfo:
    """Which ``node`` runs Node.js functions (found on PATH once, then remembered)."""
    global _node
    with _node_lock:
        if _node is not None and not refresh:
            return _node
        path = shutil.which("node")
        if path is None:
            _node = NodeInfo(None, None, "`node` was not found on the local cloud's PATH: install Node.js "
                                         f"{MIN_NODE_MAJOR} or later (e.g. `apt-get install nodejs`) and restart it")
            return _node
        try:
            version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            _node = NodeInfo(path, None, f"`{path} --version` failed: {exc}")
            return _node
        try:
            major = int(version.lstrip("v").split(".")[0])
        except ValueError:
            major = 0
        error = None if major >= MIN_NODE_MAJOR else (
            f"{path} is Node.js {version or '(unknown version)'}; the nodejs runtimes need {MIN_NODE_MAJOR} or later")
        _node = NodeInfo(path, version, error)
        return _node


def node_missing_message(runtime: str) -> str | None:
    info = node_info()
    if info.usable:
        return None
    return f"The runtime {runtime} cannot run on this local cloud: {info.error}."


def python_version() -> str:
    return sys.version.split()[0]


def runtimes_health() -> dict[str, object]:
    info = node_info()
    return {
        "supported": list(SUPPORTED_RUNTIMES),
        "python": {"runtimes": list(PYTHON_RUNTIMES), "version": python_version(), "executable": sys.executable},
        "nodejs": {"runtimes": list(NODE_RUNTIMES), "version": info.version, "executable": info.path,
                   "available": info.usable, "error": info.error, "aws_sdk": NODE_SDK.status()},
        "provided": {"runtimes": list(PROVIDED_RUNTIMES)},
    }


def describe_runtimes() -> str:
    info = node_info()
    node = (f"node {info.version} ({info.path})" if info.usable else f"unavailable: {info.error}")
    return (f"Lambda runtimes: {', '.join(PYTHON_RUNTIMES)} on Python {python_version()}; "
            f"{', '.join(NODE_RUNTIMES)} on {node}; {', '.join(PROVIDED_RUNTIMES)} (the function's bootstrap)")


# -- the AWS SDK for JavaScript v3 ---------------------------------------------------------------------------
def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


class NodeSdk:
    """The SDK v3 in a cache directory: fetched once with npm, offline afterwards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def root(self) -> Path:
        configured = os.environ.get("SFN_CALLBACK_NODE_SDK_DIR")
        return Path(configured) if configured else _cache_home() / "sfn-callback" / f"aws-sdk-js-v3-{NODE_SDK_VERSION}"

    def ready(self) -> bool:
        return (self.root / ".complete").exists()

    def status(self) -> dict[str, object]:
        return {"version": NODE_SDK_VERSION, "dir": str(self.root), "ready": self.ready(), "error": self.error}

    def prefetch(self) -> None:
        """Start fetching in the background (at the first CreateFunction of a Node.js function)."""
        if self.ready():
            return
        with self._lock:
            if self._thread is None or (not self._thread.is_alive() and not self.ready() and self.error):
                self.error = None
                self._done.clear()
                self._thread = threading.Thread(target=self._fetch, name="node-sdk-fetch", daemon=True)
                self._thread.start()

    def wait(self, timeout: float = 300.0) -> Path | None:
        """The SDK's directory (it has ``node_modules``), fetching it first if needed; None if it cannot be had."""
        if self.ready():
            return self.root
        self.prefetch()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.root if self.ready() else None

    def _fetch(self) -> None:
        root = self.root
        try:
            root.parent.mkdir(parents=True, exist_ok=True)
            with open(root.parent / f".{root.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another local cloud may be fetching the same cache
                if self.ready():
                    return
                npm = shutil.which("npm")
                if npm is None:
                    raise RuntimeError("`npm` was not found on PATH (it comes with Node.js)")
                log.info("fetching the AWS SDK for JavaScript v3 (%s) from the npm registry into %s (once)",
                         NODE_SDK_VERSION, root)
                staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
                (staging / "package.json").write_text(json.dumps({"name": "sfn-callback-node-sdk", "private": True}))
                packages = [f"@aws-sdk/{name}@{NODE_SDK_VERSION}" for name in NODE_SDK_PACKAGES]
                done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--no-package-lock",
                                       "--loglevel=error", *packages], cwd=staging, capture_output=True, text=True,
                                      timeout=600)
                if done.returncode != 0:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise RuntimeError(f"npm install failed: {(done.stderr or done.stdout).strip()[-500:]}")
                (staging / ".complete").write_text(NODE_SDK_VERSION)
                if root.exists():
                    shutil.rmtree(root)
                os.rename(staging, root)
                log.info("AWS SDK for JavaScript v3 ready in %s", root)
        except Exception as exc:  # the function still runs; its require of @aws-sdk/* fails and says so
            self.error = str(exc)
            log.error("could not fetch the AWS SDK for JavaScript v3: %s; Node.js functions that do not bundle "
                      "it will fail to import it", exc)
        finally:
            self._done.set()


NODE_SDK = NodeSdk()


# -- starting a bootstrap ------------------------------------------------------------------------------------
def path_map(code_dir: str, sdk_dir: Path | None = None) -> list[list[str]]:
    """Machine paths as Lambda would show them, longest first: the code is /var/task, the runtime /var/runtime."""
    pairs: dict[str, str] = {os.path.realpath(code_dir): "/var/task", code_dir: "/var/task",
                             str(RUNTIME_DIR): "/var/runtime"}
    if sdk_dir is not None:
        pairs[str(sdk_dir / "node_modules")] = "/var/runtime/node_modules"
    lang = f"/var/lang/lib/python{sys.version_info.major}.{sys.version_info.minor}"
    for key in ("purelib", "platlib"):
        pairs.setdefault(sysconfig.get_paths()[key], f"{lang}/site-packages")
    pairs.setdefault(sysconfig.get_paths()["stdlib"], lang)
    return [[prefix, replacement] for prefix, replacement in sorted(pairs.items(), key=lambda p: -len(p[0])) if prefix]


def mask_paths(text: str, pairs: list[list[str]]) -> str:
    for prefix, replacement in pairs:
        if prefix in text:
            text = text.replace(prefix, replacement)
    return text


def bootstrap_command(runtime_family: str, code_dir: str) -> list[str]:
    if runtime_family == "python":
        # A file, not `-m sfn_callback...`: the function's own copy of any package is what its imports find.
        return [sys.executable, "-u", "-P", str(PYTHON_BOOTSTRAP)]
    if runtime_family == "node":
        info = node_info()
        if not info.usable:
            raise BootstrapError("Runtime.InvalidEntrypoint", info.error or "node is not available")
        return [info.path or "node", str(NODE_BOOTSTRAP)]
    bootstrap = os.path.join(code_dir, "bootstrap")
    if not os.path.isfile(bootstrap):
        raise BootstrapError("Runtime.InvalidEntrypoint",
                             "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]")
    if not os.access(bootstrap, os.X_OK):
        raise BootstrapError("Runtime.InvalidEntrypoint",
                             "fork/exec /var/task/bootstrap: permission denied")
    return [bootstrap]


class BootstrapError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
