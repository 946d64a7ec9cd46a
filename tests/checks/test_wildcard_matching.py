"""The sensitive tools a wildcard reaches: found through the pattern's literal prefix, as fnmatch would."""

from __future__ import annotations

import fnmatch

import pytest

from app.checks.access import _matching

REFS = sorted(
    [f"srv{i}.{name}" for i in range(12) for name in ("read", "write", "delete_all", "x")]
    + ["hr-eu.update_compensation", "hr-us.update_compensation", "hr.update", "[odd].tool", "a*b.c"]
)


@pytest.mark.parametrize(
    "pattern",
    [
        "srv1.*",
        "srv1?.write",
        "srv[12].*",
        "*",
        "*.write",
        "hr-*.update_compensation",
        "hr*",
        "[[]odd].*",
        "srv[!1].x",
        "a*b.c",
        "srv",
        "srv1.write",
        "zzz*",
        "",
        "?rv3.read",
    ],
)
def test_prefix_lookup_matches_exactly_what_fnmatch_matches(pattern):
    assert _matching(REFS, pattern) == [ref for ref in REFS if fnmatch.fnmatchcase(ref, pattern)]
