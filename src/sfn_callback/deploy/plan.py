"""Plan: compare the desired properties of each resource with what the target holds."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

CREATE, UPDATE, UNCHANGED, DELETE = "create", "update", "unchanged", "delete"


@dataclass(frozen=True)
class Change:
    action: str
    kind: str
    name: str
    differences: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"action": self.action, "kind": self.kind, "name": self.name}
        if self.differences:
            doc["differences"] = list(self.differences)
        return doc


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(c.action != UNCHANGED for c in self.changes)

    def by_action(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def summary(self) -> dict[str, int]:
        return {a: len(self.by_action(a)) for a in (CREATE, UPDATE, UNCHANGED, DELETE)}

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "summary": self.summary(), "hasChanges": self.has_changes}


def differences(desired: dict[str, Any], current: dict[str, Any]) -> tuple[str, ...]:
    """Names of the properties that differ (``None`` in desired means "not managed")."""
    return tuple(sorted(k for k, v in desired.items() if v is not None and current.get(k) != v))


def compute_plan(
    desired: list[tuple[str, str, dict[str, Any]]],
    current: dict[tuple[str, str], dict[str, Any] | None],
    managed_existing: AbstractSet[tuple[str, str]] = frozenset(),
) -> Plan:
    """``desired``: (kind, name, properties) in creation order; ``current``: what the target holds for each
    (None = absent); ``managed_existing``: resources the target holds, marked as ours, maybe no longer wanted."""
    plan = Plan()
    wanted = set()
    for kind, name, props in desired:
        wanted.add((kind, name))
        now = current.get((kind, name))
        if now is None:
            plan.changes.append(Change(CREATE, kind, name))
            continue
        diff = differences(props, now)
        plan.changes.append(Change(UPDATE if diff else UNCHANGED, kind, name, diff))
    for kind, name in sorted(managed_existing - wanted, reverse=True):
        plan.changes.append(Change(DELETE, kind, name))
    return plan
