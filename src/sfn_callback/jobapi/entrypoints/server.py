"""Serving the reference job service on loopback: ``python -m sfn_callback.jobapi.entrypoints.server`` (what
``sfn-callback job-api`` runs). With ``--port 0`` it takes a free port; either way its first line on stdout is
``{"url": "http://127.0.0.1:PORT"}`` once it accepts connections."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from sfn_callback.common.net import is_loopback
from sfn_callback.jobapi.adapters.keys import FileOrEnvKeys
from sfn_callback.jobapi.application.service import JobService
from sfn_callback.jobapi.entrypoints.app import create_app


def serve(host: str = "127.0.0.1", port: int = 0, keys_file: Path | None = None) -> None:
    if not is_loopback(host):
        raise ValueError(f"the job API listens on loopback only, not {host!r}")
    service = JobService(FileOrEnvKeys(keys_file))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", access_log=False))

    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets=sockets)
        print(json.dumps({"url": url}), flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sfn-callback job-api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--keys-file", type=Path, default=None,
                        help="one bearer key a line, re-read when it changes (else SFN_CALLBACK_JOB_API_KEYS)")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.keys_file)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
