"""Conventions shared by every command.

* ``--endpoint URL`` (or ``AWS_ENDPOINT_URL``) points a command at a local cloud, LocalStack or, with
  ``--endpoint aws``, at real AWS through the standard configuration.
* A command that prints figures or outcomes takes ``--json`` and then prints exactly one JSON document on
  stdout; progress and tables go to stderr.
* Exit codes: 0 done (and every check passed); 1 the command ran and failed (a check failed, an API answered an
  error, the target could not be reached); 2 refused before doing anything: an invalid option or argument
  (Typer's usage errors too), an unknown name, no confirmation, no API keys, AWS credentials or a profile
  that cannot be resolved. Every refusal is one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlparse

import typer
from rich.console import Console

from sfn_callback.config import DEFAULT_REGION, Target, default_endpoint

# Progress and human output go to stderr whenever --json is asked for; otherwise to stdout.
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long
out_console = Console()

EXIT_FAILED = 1  # the command ran and failed
EXIT_REFUSED = 2  # invalid input (or nothing to act on): refused before doing anything
MAX_JOBS = 1000  # executions one `run` starts per scenario unless --allow-many


def refuse(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """One line on stderr and exit ``code`` (2: invalid input, nothing was done)."""
    err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


class InvalidEndpoint(ValueError):
    pass


@dataclass
class CliState:
    endpoint: str | None
    region: str
    profile: str | None

    @property
    def target(self) -> Target:
        return Target(endpoint_url=self.endpoint, region=self.region, profile=self.profile)


def resolve_endpoint(endpoint: str | None) -> str | None:
    """``aws`` (or ``none``) means real AWS; anything else must be an http(s) URL with a host (else
    :class:`InvalidEndpoint`); default is the local cloud."""
    if endpoint is None:
        endpoint = default_endpoint()
    if endpoint.strip().lower() in {"aws", "none", ""}:
        return None
    try:
        parsed = urlparse(endpoint.strip())
        valid = parsed.scheme in ("http", "https") and bool(parsed.hostname) and not parsed.path.strip("/") \
            and (parsed.port is None or 0 < parsed.port)
    except ValueError:  # a port that is not a number, a malformed IPv6 host
        valid = False
    if not valid:
        raise InvalidEndpoint(f"{endpoint!r} is not an endpoint URL (like http://127.0.0.1:4566) nor 'aws'")
    return endpoint.strip().rstrip("/")


_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")


def known_regions() -> set[str]:
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("stepfunctions", partition))
    return regions


def check_region(region: str) -> str:
    """``region`` if it names an AWS region this installation knows; else an invalid-input exit."""
    if not _REGION.match(region or "") or region not in known_regions():
        refuse(f"--region {region!r} is not an AWS region (like us-east-1 or eu-west-1)")
    return region


def endpoint_option(value: str | None, option: str = "--endpoint") -> str | None:
    """:func:`resolve_endpoint`, or an invalid-input exit naming ``option``."""
    try:
        return resolve_endpoint(value)
    except InvalidEndpoint as exc:
        refuse(f"{option if value is not None else 'AWS_ENDPOINT_URL'} {exc}")


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if obj is None:
        obj = CliState(endpoint=endpoint_option(None), region=DEFAULT_REGION, profile=None)
        ctx.find_root().obj = obj
    return obj


def console_for(as_json: bool) -> Console:
    return err_console if as_json else out_console


def emit_json(document: Any) -> None:
    """The one JSON document a ``--json`` command prints on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


JsonOption = typer.Option(False, "--json", help="Print exactly one JSON document on stdout (progress on stderr).")
