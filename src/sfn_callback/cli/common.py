"""Conventions shared by every command.

* ``--endpoint URL`` (or ``AWS_ENDPOINT_URL``) points a command at a local cloud, LocalStack or, with
  ``--endpoint aws``, at real AWS through the standard configuration.
* A command that prints figures or outcomes takes ``--json`` and then prints exactly one JSON document on
  stdout; progress and tables go to stderr.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console

from sfn_callback.config import DEFAULT_REGION, Target, default_endpoint

# Progress and human output go to stderr whenever --json is asked for; otherwise to stdout.
err_console = Console(stderr=True)
out_console = Console()


@dataclass
class CliState:
    endpoint: str | None
    region: str
    profile: str | None

    @property
    def target(self) -> Target:
        return Target(endpoint_url=self.endpoint, region=self.region, profile=self.profile)


def resolve_endpoint(endpoint: str | None) -> str | None:
    """``aws`` (or ``none``) means real AWS; anything else is an endpoint URL; default is the local cloud."""
    if endpoint is None:
        return default_endpoint()
    if endpoint.lower() in {"aws", "none", ""}:
        return None
    return endpoint


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if obj is None:
        obj = CliState(endpoint=resolve_endpoint(None), region=DEFAULT_REGION, profile=None)
        ctx.find_root().obj = obj
    return obj


def console_for(as_json: bool) -> Console:
    return err_console if as_json else out_console


def emit_json(document: Any) -> None:
    """The one JSON document a ``--json`` command prints on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


JsonOption = typer.Option(False, "--json", help="Print exactly one JSON document on stdout (progress on stderr).")
