"""``sfn-callback deploy`` / ``destroy`` / ``package``: the stack of every present component, planned and
applied; the Lambda bundle and the Terraform manifest (for AWS or, with ``--target local``, a local cloud);
``tf-endpoints``, the provider override that points the Terraform module at a local cloud.

Real AWS (``--endpoint aws``) is touched only after ``--yes`` or an interactive confirmation that names the
account (from STS GetCallerIdentity), the region and the endpoints (AWS's own: configured endpoint URLs such
as ``AWS_ENDPOINT_URL`` are ignored for real AWS). With no terminal and no ``--yes`` the command refuses before any AWS
call. ``deploy --plan`` only reads, and needs neither.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import typer
from botocore.exceptions import BotoCoreError, ClientError

from sfn_callback.cli.common import JsonOption, console_for, emit_json, err_console, refuse, state
from sfn_callback.common.aws import client as make_client
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import ConfigurationRefused, Deployer, Drivers
from sfn_callback.deploy.plan import UNCHANGED
from sfn_callback.deploy.terraform import DEFAULT_MAX_RETRIES

YesOption = typer.Option(False, "--yes", "-y", help="Apply to real AWS without asking (needed with no terminal).")
ZipOption = typer.Option(
    None, "--zip", help="Lambda zip to deploy (e.g. build/lambda.zip from 'sfn-callback package'). Default: the "
    "project source alone on an endpoint (the local cloud), source plus dependencies on AWS.",
)


def _fail(message: str, code: int = 2) -> None:
    refuse(message, code)


def _describe(target: Target) -> str:
    where = f"region {target.region}"
    return where + (f", profile {target.profile}" if target.profile else "")


def endpoints(target: Target) -> str:
    """The endpoints the stack's calls go to: the target's URL, or AWS's regional endpoints (configured
    endpoint URLs such as AWS_ENDPOINT_URL are ignored for real AWS)."""
    if target.is_local:
        return str(target.endpoint_url)
    url = urlparse(make_client("stepfunctions", target).meta.endpoint_url)
    domain = (url.hostname or "").split(".", 1)[-1]
    return f"{url.scheme}://<service>.{domain} (AWS; AWS_ENDPOINT_URL and configured endpoint URLs ignored)"


def caller_account(target: Target) -> tuple[str, str]:
    """(account id, caller ARN) of the credentials the standard AWS configuration resolves."""
    try:
        who = make_client("sts", target).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        _fail(f"cannot reach AWS to identify the account ({_describe(target)}): {exc}")
        raise  # unreachable
    return who["Account"], who["Arn"]


def confirm_real_aws(target: Target, action: str, yes: bool) -> None:
    """Return when touching real AWS is confirmed; exit 2 (nothing touched) otherwise."""
    if target.is_local:
        return
    if not yes and not sys.stdin.isatty():
        _fail(f"refusing to {action} on real AWS ({_describe(target)}) without --yes: no terminal to confirm on")
    account, arn = caller_account(target)
    err_console.print(f"{action} on AWS account {account} ({arn}), {_describe(target)}, endpoints {endpoints(target)}",
                      highlight=False)
    if yes:
        return
    answer = typer.prompt(f"Type the account id {account} to {action} there", default="", show_default=False)
    if answer.strip() != account:
        _fail("not confirmed; nothing was changed")


def _deployer(target: Target, zip_path: Path | None, uploads_code: bool = True) -> Deployer:
    try:
        deployer = Deployer(target)
    except (BotoCoreError, ClientError) as exc:
        _fail(f"cannot reach the target ({target.endpoint_url or 'AWS, ' + _describe(target)}): {exc}")
        raise  # unreachable
    if zip_path is not None:
        if not zip_path.is_file():
            _fail(f"{zip_path}: no such file (build it with 'sfn-callback package')")
        deployer.drivers = Drivers(target, deployer.stack.ctx, zip_path.read_bytes())
    elif uploads_code and not target.is_local:
        from sfn_callback.deploy import bundle

        err_console.print("building the Lambda bundle with its dependencies ...")
        result = bundle.package(Path("build"))
        deployer.drivers = Drivers(target, deployer.stack.ctx, result.zip_path.read_bytes())
    return deployer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command()
    def deploy(
        ctx: typer.Context,
        plan_only: bool = typer.Option(False, "--plan", help="Show the plan without applying it."),
        yes: bool = YesOption,
        zip_path: Path = ZipOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Create or update every resource idempotently (a second run reports no changes)."""
        console = console_for(as_json)
        target = state(ctx).target
        if not plan_only:
            confirm_real_aws(target, "deploy", yes)
        if target.is_local or plan_only:
            err_console.print(f"{'planning' if plan_only else 'deploying'} against {endpoints(target)} "
                              f"({_describe(target)})", highlight=False)
        try:
            deployer = _deployer(target, zip_path)
            plan = deployer.plan()
        except ConfigurationRefused as exc:
            _fail(f"{'plan' if plan_only else 'deploy'} refused, {exc}")
            raise  # unreachable
        except (BotoCoreError, ClientError) as exc:
            _fail(f"cannot read the target's resources: {exc}")
            raise  # unreachable
        for change in plan.changes:
            if change.action != UNCHANGED:
                extra = f" ({', '.join(change.differences)})" if change.differences else ""
                console.print(f"{change.action:>9}  {change.kind:<22} {change.name}{extra}", highlight=False)
        if plan_only:
            summary = plan.summary()
            console.print(", ".join(f"{summary[a]} to {a}" for a in ("create", "update", "delete"))
                          + f", {summary['unchanged']} unchanged")
            if as_json:
                emit_json(plan.to_dict())
            return
        if not plan.has_changes:
            console.print(f"no changes ({len(plan.changes)} resources up to date)")
            if as_json:
                emit_json({"plan": plan.to_dict(), "applied": [], "noChanges": True})
            return
        result = deployer.apply(plan)
        console.print(f"applied {len(result.applied)} changes in {result.seconds:.1f} s")
        if as_json:
            emit_json(result.to_dict())

    @app.command()
    def destroy(ctx: typer.Context, yes: bool = YesOption, as_json: bool = JsonOption) -> None:
        """Remove every resource of the stack, polling schedules first."""
        console = console_for(as_json)
        target = state(ctx).target
        confirm_real_aws(target, "destroy the stack", yes)
        if target.is_local:
            err_console.print(f"destroying the stack at {endpoints(target)} ({_describe(target)})", highlight=False)
        removed = _deployer(target, None, uploads_code=False).destroy(
            progress=lambda c: console.print(f"   delete  {c.kind:<22} {c.name}", highlight=False)
        )
        console.print(f"removed {len(removed)} resources")
        if as_json:
            emit_json({"removed": [c.to_dict() for c in removed]})

    @app.command("tf-endpoints")
    def tf_endpoints(
        ctx: typer.Context,
        out: Path = typer.Option(None, "--out", help="Write the override to this file (e.g. "
                                 "infra/terraform/local_override.tf) instead of printing it."),
        max_retries: int = typer.Option(DEFAULT_MAX_RETRIES, "--max-retries", help="The provider's max_retries (attempts per "
                                        "call): low, so an API the endpoint lacks fails in seconds instead of "
                                        "being retried for minutes."),
    ) -> None:
        """Print the AWS provider override that points infra/terraform at the local cloud (--endpoint)."""
        from sfn_callback.deploy.terraform import OverrideError, provider_override

        target = state(ctx).target
        if not target.is_local:
            _fail("tf-endpoints writes an override for an endpoint (the local cloud, LocalStack); for AWS use "
                  "the module as it is")
        try:
            text = provider_override(target.endpoint_url or "", max_retries)
        except OverrideError as exc:
            _fail(str(exc))
            raise  # unreachable
        if out is None:
            sys.stdout.write(text)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        err_console.print(f"wrote {out} (the AWS provider pointed at {target.endpoint_url})", highlight=False)

    @app.command()
    def package(
        out: Path = typer.Option(Path("build"), "--out", help="Output folder."),
        without_dependencies: bool = typer.Option(
            False, "--without-dependencies", help="Project code only (the local cloud provides the rest)."
        ),
        target: str = typer.Option(
            "aws", "--target", help="Stack to describe in stack.json: 'aws', or 'local' (the local cloud or "
            "LocalStack: local settings, sub-minute schedules, short export timings), as 'deploy' gives each."
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Build the Lambda zip (code + runtime dependencies for python3.11 x86_64) and build/stack.json for
        Terraform; the same inputs give the same bytes."""
        from sfn_callback.deploy import bundle
        from sfn_callback.deploy.manifest import TARGETS, ManifestError

        console = console_for(as_json)
        if target not in TARGETS:
            _fail(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
        try:
            result = bundle.package(out, with_dependencies=not without_dependencies, target=target)
        except (bundle.PackageError, ManifestError) as exc:
            _fail(str(exc))
            raise  # unreachable
        console.print(f"{result.zip_path}  {result.size:,} bytes  CodeSha256 {result.code_sha256}", highlight=False)
        console.print(f"{result.manifest_path}  (target {result.target}, {len(result.requirements)} pinned "
                      "dependencies)", highlight=False)
        if as_json:
            emit_json(result.to_dict())
