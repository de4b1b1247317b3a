"""How the local cloud changes moto at run time: one place for replacing a class's attribute and marking a patch.

The local cloud replaces methods and properties of moto's classes with its own (which call the originals).
mypy compares an assignment to a class attribute with what moto declares there, and a replacement with a
looser signature (``**kwargs``, ``Any``) or a marker attribute on a function would be an error on every
line; going through ``setattr`` here says once that these are run-time patches, not moto's API.
"""

from __future__ import annotations

from typing import Any


def replace(owner: Any, name: str, value: Any) -> None:
    """Put ``value`` in place of ``owner.name`` (a method, property or function of a moto class or module)."""
    setattr(owner, name, value)


def mark(function: Any, name: str, value: Any = True) -> None:
    """Tag ``function`` with the attribute ``name`` (how an installer tells it already patched something)."""
    setattr(function, name, value)
