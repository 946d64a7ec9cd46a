"""The registry of checks: pure functions over a Snapshot, one module per domain.

A check is registered under its function name, which is also its key in
controls/checks/<domain>.yaml. It yields one Outcome per subject it examined.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

from app.snapshot import Snapshot

DOMAINS = ("identity", "credentials", "access", "servers", "delegation", "approvals", "runtime")


class Outcome(NamedTuple):
    """The result of one check on one subject."""

    # A named tuple: a run makes hundreds of thousands of them, and a tuple is built fastest.
    subject_kind: str
    subject_id: str
    passed: bool
    detail: str


CheckFunction = Callable[[Snapshot], Iterator[Outcome]]

REGISTRY: dict[str, CheckFunction] = {}
DOMAIN_OF: dict[str, str] = {}


def check(function: CheckFunction) -> CheckFunction:
    """Register a check under its function name."""
    name = function.__name__
    if name in REGISTRY:
        raise ValueError(f"check {name} is registered twice")
    REGISTRY[name] = function
    DOMAIN_OF[name] = function.__module__.rsplit(".", 1)[-1]
    return function


def pass_(kind: str, subject_id: str, detail: str) -> Outcome:
    """A passing outcome."""
    return _new(Outcome, (kind, subject_id, True, detail))


def fail(kind: str, subject_id: str, detail: str) -> Outcome:
    """A failing outcome."""
    return _new(Outcome, (kind, subject_id, False, detail))


_new = tuple.__new__  # what Outcome(...) does, without its keyword handling


def load_checks() -> dict[str, CheckFunction]:
    """Import every domain module so its checks register, and return the registry."""
    for domain in DOMAINS:
        importlib.import_module(f"app.checks.{domain}")
    return REGISTRY
