"""The registry of component stack modules and the stack they build together."""

from __future__ import annotations

import importlib

from sfn_callback.deploy.spec import Stack, StackContext

# Each module defines ``contribute(stack, ctx)``; a module not present yet is skipped.
COMPONENT_MODULES = (
    "sfn_callback.poc.stack",
    "sfn_callback.approval.stack",
    "sfn_callback.export.stack",
    "sfn_callback.cost.stack",
    "sfn_callback.poc.sweep_stack",
    "sfn_callback.monitoring.stack",  # last: it alarms on the other components' queues and state machines
)


def build_stack(ctx: StackContext, modules: tuple[str, ...] = COMPONENT_MODULES) -> Stack:
    stack = Stack(ctx)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        module.contribute(stack, ctx)
    return stack
