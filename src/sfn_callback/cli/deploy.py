"""``sfn-callback deploy`` / ``destroy``: the stack of every present component, planned and applied."""

from __future__ import annotations

import typer

from sfn_callback.cli.common import JsonOption, console_for, emit_json, state
from sfn_callback.deploy.deployer import Deployer
from sfn_callback.deploy.plan import UNCHANGED


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command()
    def deploy(
        ctx: typer.Context,
        plan_only: bool = typer.Option(False, "--plan", help="Show the plan without applying it."),
        as_json: bool = JsonOption,
    ) -> None:
        """Create or update every resource idempotently (a second run reports no changes)."""
        console = console_for(as_json)
        deployer = Deployer(state(ctx).target)
        plan = deployer.plan()
        for change in plan.changes:
            if change.action != UNCHANGED:
                extra = f" ({', '.join(change.differences)})" if change.differences else ""
                console.print(f"{change.action:>9}  {change.kind:<22} {change.name}{extra}")
        if plan_only:
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
    def destroy(ctx: typer.Context, as_json: bool = JsonOption) -> None:
        """Remove every resource of the stack, polling schedules first."""
        console = console_for(as_json)
        removed = Deployer(state(ctx).target).destroy(
            progress=lambda c: console.print(f"   delete  {c.kind:<22} {c.name}")
        )
        console.print(f"removed {len(removed)} resources")
        if as_json:
            emit_json({"removed": [c.to_dict() for c in removed]})
