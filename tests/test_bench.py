"""The benchmark works end to end at a tiny scale: a deterministic organisation, a clean import, all lines.

No timing is asserted here: the figures at scale are measured by bench/run.py and kept in bench/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.inventory import import_inventory
from tests.conftest import TEST_DATABASE_URL

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402  (bench/ is a folder of scripts, not a package)

SCENARIOS = (
    "inventory-import",
    "inventory-import-json",
    "audit-import",
    "evaluation",
    "evaluation-again",
    "change-one-agent",
    "re-evaluation",
    "excel-export",
    "pdf-executive",
    "pdf-framework",
)
HTTP_SCENARIOS = ("http-overview", "http-findings-filtered", "http-agent")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_the_same_bytes(tmp_path):
    generate.generate(tmp_path / "a", agents=50, seed=3)
    generate.generate(tmp_path / "b", agents=50, seed=3)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    assert "events.jsonl" in first and "agents/agents-001.yaml" in first


def test_another_seed_gives_another_organisation(tmp_path):
    generate.generate(tmp_path / "a", agents=50, seed=3)
    generate.generate(tmp_path / "b", agents=50, seed=4)
    assert _files(tmp_path / "a") != _files(tmp_path / "b")


def test_counts_are_proportional_to_the_agents(tmp_path):
    counts = generate.generate(tmp_path, agents=100)
    assert (counts.agents, counts.mcp_servers, counts.tools) == (100, 10, 200)
    assert (counts.credentials, counts.approvals, counts.events) == (200, 50, 10_000)
    assert counts.policies == 100 + 2  # one per agent and two organisation-wide rules


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_generated_inventory_imports_cleanly(tmp_path, session, settings, fmt):
    counts = generate.generate(tmp_path / "org", agents=50, fmt=fmt, events=False)
    result = import_inventory(
        session,
        paths=[str(tmp_path / "org")],
        actor="test",
        max_bytes=settings.max_import_bytes,
        max_alias_expansion=settings.yaml_max_alias_expansion,
    )
    assert result.errors == []
    created = {kind: c.counts()["created"] for kind, c in result.changes.items()}
    assert created == {
        "agents": counts.agents,
        "mcp_servers": counts.mcp_servers,
        "credentials": counts.credentials,
        "policies": counts.policies,
        "approvals": counts.approvals,
    }


def test_generated_audit_log_names_inventoried_tools_and_a_few_shadow_agents(tmp_path):
    generate.generate(tmp_path, agents=200)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 20_000
    assert any('"agent":"shadow-' in line for line in lines)
    timestamps = [re.search(r'"ts":"([^"]+)"', line).group(1) for line in lines]
    assert timestamps == sorted(timestamps)


@pytest.mark.skipif(
    bool(TEST_DATABASE_URL),
    reason="the benchmark measures SQLite, whatever the suite's database; the SQLite pass runs it",
)
def test_benchmark_prints_every_scenario_with_time_peak_and_ratio(tmp_path):
    has_locust = importlib.util.find_spec("locust") is not None
    command = [sys.executable, str(BENCH / "run.py"), "--agents", "50", "--workdir", str(tmp_path)]
    command += ["--http-seconds", "20", "--http-requests", "60"] if has_locust else ["--skip", "http"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    expected = SCENARIOS + (HTTP_SCENARIOS if has_locust else ())
    for name in expected:
        line = next((x for x in lines if x.split(" ", 1)[0] == name), None)
        assert line is not None, f"no line for {name}:\n{run.stdout}"
        assert re.search(r" time +[\d.]+ (ms|s) ", line), line
        assert re.search(r" peak +\d+ MB ", line), line
        assert " ratio " in line and " target " in line, line
    assert lines[0].startswith("machine: ")
