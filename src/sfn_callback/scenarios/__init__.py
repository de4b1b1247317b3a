"""Scenarios that ``sfn-callback run --scenario NAME`` runs end to end, with checks computed from the data.

A component contributes scenarios from its own module (listed in ``SCENARIO_MODULES``) by calling
:func:`register`. A scenario starts executions on a target, reports live progress as rows, and returns a
:class:`ScenarioResult` whose every :class:`Check` was decided from what the target holds (execution
history, DynamoDB records, schedules), never assumed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sfn_callback.config import Target

SCENARIO_MODULES = ("sfn_callback.poc.scenarios", "sfn_callback.poc.batch_scenarios", "sfn_callback.poc.http_scenarios",
                    "sfn_callback.export.scenarios", "sfn_callback.monitoring.scenarios")

ProgressRows = list[dict[str, Any]]  # one row per job: column name -> value, shown live


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class ScenarioResult:
    scenario: str
    expected: str  # the outcome the scenario expects, in words
    checks: list[Check]
    jobs: ProgressRows = field(default_factory=list)
    duration_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["passed"] = self.passed
        return doc


@dataclass(frozen=True)
class RunOptions:
    jobs: int = 1
    interval_seconds: int = 1
    timeout_seconds: float = 120.0


class Scenario(Protocol):
    # read-only: a frozen dataclass is a scenario too
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def run(self, target: Target, options: RunOptions, progress: Callable[[ProgressRows], None]) -> ScenarioResult:
        """Deploying is the caller's job; start the executions, report progress, check the outcome."""


_REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in _REGISTRY and _REGISTRY[scenario.name] is not scenario:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    _REGISTRY[scenario.name] = scenario
    return scenario


def _load() -> None:
    for module in SCENARIO_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def all_scenarios() -> dict[str, Scenario]:
    _load()
    return dict(_REGISTRY)


def get(name: str) -> Scenario:
    scenarios = all_scenarios()
    if name not in scenarios:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(scenarios))}")
    return scenarios[name]
