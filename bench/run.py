"""The benchmark: generate an organisation, run each scenario against it, print one line per scenario.

    .venv/bin/python bench/run.py --agents 10000            # scale L (see bench/README.md)
    .venv/bin/python bench/run.py --agents 200 --http-seconds 5   # CI: proves every scenario works

Each scenario and its floor runs in a fresh Python process (so that its peak memory is its own: the
peak resident set size of that process), in the order below, on one SQLite database under --workdir.
A floor is the least work the scenario could do, measured in the same run on the same data:

    inventory-import     import_inventory() of every file   floor: parse the files with libyaml and
                                                             bulk-insert each entry as one JSON row
    inventory-import-json  the same organisation as JSON files, into a database of its own
    audit-import         import_audit_log() of events.jsonl  floor: parse each line and bulk-insert its fields
    evaluation           the first run_evaluation()          floor: load every inventory row and audit event
    evaluation-again     a second run, nothing changed         once from the database into Python objects
    change-one-agent     import_inventory() of one changed agent (what the API or UI does)
    re-evaluation        run_evaluation() after that change (incremental when run_evaluation offers it)
    http-*               p95 of 8 concurrent signed-in clients (locust, against gunicorn with a worker
                         per core, the production shape; --server waitress for `steward serve`)
                                                             floor: p95 of /health under the same load
    excel-export         build_context() + render_workbook()  floor: openpyxl write-only writing the same rows
    pdf-executive        every framework, executive summary    floor: WeasyPrint laying out the same HTML
    pdf-framework        one framework, the full evidence PDF  floor: WeasyPrint laying out the same HTML

Targets (bench/RESULTS.md) are printed beside each figure; the benchmark never fails on a missed
target, only on a scenario that does not run.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import inspect
import io
import json
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import generate as generator  # noqa: E402  (bench/ is not a package: run as a script)

MB = 1024 * 1024
CHANGED_AGENT_INDEX = 42
PDF_FRAMEWORK = "owasp-asi-2026"


@dataclass(frozen=True)
class Target:
    """What a scenario should achieve at scale L; None where there is no such bound."""

    seconds: float | None = None
    peak_mb: float | None = None
    ratio: float | None = None
    rate: float | None = None  # items per second, at least

    def describe(self) -> str:
        parts = []
        if self.rate is not None:
            parts.append(f"≥ {self.rate:,.0f}/s")
        if self.seconds is not None:
            parts.append(f"≤ {self.seconds * 1000:.0f} ms" if self.seconds < 1 else f"≤ {self.seconds:g} s")
        if self.peak_mb is not None:
            parts.append(f"≤ {self.peak_mb:,.0f} MB")
        if self.ratio is not None:
            parts.append(f"≤ {self.ratio:g}× floor")
        return ", ".join(parts) or "none"

    def met(self, result: dict) -> bool | None:
        checks = []
        if self.rate is not None:
            checks.append(result.get("rate", 0) >= self.rate)
        if self.seconds is not None:
            checks.append(result["seconds"] <= self.seconds)
        if self.peak_mb is not None:
            checks.append(result["peak_mb"] <= self.peak_mb)
        if self.ratio is not None and result.get("ratio") is not None:
            checks.append(result["ratio"] <= self.ratio)
        return all(checks) if checks else None


# --------------------------------------------------------------------------------------------------
# Workers: each runs in its own process and returns its measured seconds plus anything worth printing.


_cpu = {"start": 0.0, "seconds": None}


def _process_and_children_cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (the audit log's reader)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _start() -> float:
    """Start timing: wall-clock time is returned, CPU time of this process (and its children) is kept."""
    _cpu["start"] = _process_and_children_cpu()
    return time.perf_counter()


def _stop(started: float) -> float:
    """Wall-clock seconds since _start(); the CPU seconds (user + system) of the same span are kept."""
    _cpu["seconds"] = _process_and_children_cpu() - _cpu["start"]
    return time.perf_counter() - started


def _peak_mb() -> float:
    """This process's peak resident memory, plus that of the children a scenario watched (_watch_children)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + _children_peak["mb"]  # KiB on Linux


_children_peak = {"mb": 0.0}


@contextmanager
def _watch_children(every: float = 0.1):
    """Sample the peak memory of this process's children meanwhile (the audit log's reader), added to
    the scenario's peak: both at once, at worst. (RUSAGE_CHILDREN would also count what importing
    WeasyPrint runs, ldconfig and gcc, before the scenario starts.)"""
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            for pid in _process_tree(os.getpid())[1:]:
                try:
                    _children_peak["mb"] = max(_children_peak["mb"], _vm_hwm_mb(pid))
                except OSError:  # ended meanwhile
                    continue

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()


def _app(state: dict):
    from app import create_app
    from app.config import Settings

    return create_app(Settings(instance_path=state["instance"], actor="bench", evaluation_debounce_seconds=0))


def _session(app):
    from app.db import get_engine, session_scope

    return session_scope(get_engine(app))


def _settings(app):
    return app.config["STEWARD"]


def _catalog(app):
    from app.catalog import get_catalog

    return get_catalog(app)


def work_prepare(state: dict) -> dict:
    """Create the database at the newest schema (not timed)."""
    app = _app(state)
    with _session(app):
        pass
    return {"seconds": 0.0}


def _json_state(state: dict) -> dict:
    """The same organisation written as JSON, to be imported into a database of its own."""
    org = Path(state["workdir"]) / "org-json"
    instance = Path(state["workdir"]) / "instance-json"
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir()
    generator.generate(org, agents=state["agents"], seed=state["seed"], fmt="json", events=False)
    return {**state, "org": str(org), "instance": str(instance)}


def work_import(state: dict) -> dict:
    return _import(state)


def work_import_json(state: dict) -> dict:
    result = _import(_json_state(state))
    shutil.rmtree(Path(state["workdir"]) / "instance-json")
    return result


def work_import_json_floor(state: dict) -> dict:
    result = work_import_floor(_json_state(state))
    shutil.rmtree(Path(state["workdir"]) / "instance-json")
    return result


def _import(state: dict) -> dict:
    from app.inventory import import_inventory

    app = _app(state)
    settings = _settings(app)
    with _session(app) as session:
        started = _start()
        result = import_inventory(
            session,
            paths=[state["org"]],
            actor="bench",
            max_bytes=settings.max_import_bytes,
            max_alias_expansion=settings.yaml_max_alias_expansion,
        )
        if not result.ok:
            raise SystemExit("import failed:\n" + "\n".join(str(e) for e in result.errors[:20]))
        session.commit()
        seconds = _stop(started)
    entries = sum(c.counts()["created"] for c in result.changes.values())
    return {"seconds": seconds, "items": entries, "note": f"{entries:,} entries"}


def work_import_floor(state: dict) -> dict:
    import yaml

    from app.inventory.reader import collect_files

    files, _ = collect_files([state["org"]])
    scratch = Path(state["workdir"]) / "floor-import.db"
    scratch.unlink(missing_ok=True)
    connection = sqlite3.connect(scratch)
    connection.execute("CREATE TABLE entry (kind TEXT, id TEXT, body TEXT, PRIMARY KEY (kind, id))")
    started = _start()
    rows = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml.CSafeLoader)
        for kind, entries in data.items():
            batch = [(kind, e["id"], json.dumps(e, default=str)) for e in entries]
            connection.executemany("INSERT INTO entry VALUES (?, ?, ?)", batch)
            rows += len(batch)
    connection.commit()
    seconds = _stop(started)
    connection.close()
    scratch.unlink()
    return {"seconds": seconds, "items": rows}


def work_audit(state: dict) -> dict:
    from app.inventory.audit_log import import_audit_log

    app = _app(state)
    with _session(app) as session, _watch_children():
        started = _start()
        result = import_audit_log(session, path=state["events"], actor="bench")
        if not result.ok or result.bad:
            raise SystemExit(f"audit import failed: {result.file_error or result.errors[:5]}")
        session.commit()
        seconds = _stop(started)
    return {"seconds": seconds, "items": result.imported, "rate": result.imported / seconds}


def work_audit_floor(state: dict) -> dict:
    try:
        from orjson import loads
    except ImportError:  # pragma: no cover
        loads = json.loads
    scratch = Path(state["workdir"]) / "floor-audit.db"
    scratch.unlink(missing_ok=True)
    connection = sqlite3.connect(scratch)
    columns = (
        "event_id",
        "ts",
        "agent",
        "tool",
        "decision",
        "task",
        "approval",
        "credential",
        "chain_depth",
        "delegated_by",
    )
    connection.execute(f"CREATE TABLE event ({', '.join(columns)}, UNIQUE (event_id))")
    sql = f"INSERT INTO event VALUES ({', '.join('?' * len(columns))})"
    started = _start()
    batch, count = [], 0
    with open(state["events"], "rb") as handle:
        for line in handle:
            event = loads(line)
            batch.append(tuple(event.get(c) for c in columns))
            if len(batch) >= 5_000:
                connection.executemany(sql, batch)
                count += len(batch)
                batch.clear()
    connection.executemany(sql, batch)
    count += len(batch)
    connection.commit()
    seconds = _stop(started)
    connection.close()
    scratch.unlink()
    return {"seconds": seconds, "items": count, "rate": count / seconds}


def _evaluate(state: dict, trigger: str, **extra) -> dict:
    from app.evaluation import run_evaluation

    app = _app(state)
    with _session(app) as session:
        started = _start()
        summary = run_evaluation(
            session,
            catalog=_catalog(app),
            settings=_settings(app),
            trigger=trigger,
            actor="bench",
            now=generator.REFERENCE_NOW,
            **extra,
        )
        session.commit()
        seconds = _stop(started)
    counts = summary.run.counts
    return {
        "seconds": seconds,
        "items": counts["outcomes"],
        "note": f"{counts['outcomes']:,} outcomes, {summary.opened:,} opened, {summary.resolved:,} resolved, "
        f"{summary.open_total:,} open",
        "open": summary.open_total,
    }


def work_evaluate(state: dict) -> dict:
    return _evaluate(state, "bench")


def work_load_floor(state: dict) -> dict:
    from sqlalchemy import select

    from app.models import inventory as m
    from app.models.runtime import AuditEvent

    app = _app(state)
    tables = [
        m.Agent,
        m.AgentTool,
        m.AgentCredential,
        m.AgentDelegation,
        m.AgentServer,
        m.McpServer,
        m.Tool,
        m.Credential,
        m.Policy,
        m.Approval,
        AuditEvent,
    ]
    with _session(app) as session:
        started = _start()
        rows = 0
        for table in tables:
            rows += len(session.execute(select(*table.__table__.columns)).all())
        seconds = _stop(started)
    return {"seconds": seconds, "items": rows, "note": f"{rows:,} rows"}


def _changed_agent_document(state: dict) -> Path:
    """A one-agent inventory file: the agent as generated, with its owner gone and one tool dropped."""
    import yaml

    agent_id = f"agent-{CHANGED_AGENT_INDEX:05d}"
    for path in sorted(Path(state["org"], "agents").iterdir()):
        text = path.read_text(encoding="utf-8")
        if agent_id not in text:
            continue
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml.CSafeLoader)
        agent = next(a for a in data["agents"] if a["id"] == agent_id)
        agent.pop("owner", None)
        agent["tools"] = agent["tools"][1:]
        agent["purpose"] = "Changed by the benchmark: one agent's edit."
        out = Path(state["workdir"]) / "change-one-agent.yaml"
        out.write_text(yaml.safe_dump({"agents": [agent]}, sort_keys=False), encoding="utf-8")
        return out
    raise SystemExit(
        f"{agent_id} is not in the generated organisation (use --agents > {CHANGED_AGENT_INDEX})"
    )


def work_change_agent(state: dict) -> dict:
    from app.inventory import import_inventory

    path = _changed_agent_document(state)
    app = _app(state)
    settings = _settings(app)
    with _session(app) as session:
        started = _start()
        result = import_inventory(
            session,
            paths=[str(path)],
            actor="bench",
            max_bytes=settings.max_import_bytes,
            max_alias_expansion=settings.yaml_max_alias_expansion,
        )
        if not result.ok:
            raise SystemExit("change failed:\n" + "\n".join(str(e) for e in result.errors[:20]))
        session.commit()
        seconds = _stop(started)
    updated = result.changes["agents"].updated
    return {"seconds": seconds, "note": f"updated {', '.join(updated) or 'nothing'}"}


def work_reevaluate(state: dict) -> dict:
    from app.evaluation import run_evaluation

    parameters = inspect.signature(run_evaluation).parameters
    extra = {}
    if "changed_agents" in parameters:
        extra["changed_agents"] = {f"agent-{CHANGED_AGENT_INDEX:05d}"}
    result = _evaluate(state, "bench-change", **extra)
    result["note"] = (
        "incremental (changed_agents=); " if extra else "full re-run (no incremental path); "
    ) + (result["note"])
    return result


def _context(state: dict, app, session, *, frameworks=(), with_outcomes=True):
    from app.posture import latest_run
    from app.reporting.context import Scope, build_context

    return build_context(
        session,
        catalog=_catalog(app),
        settings=_settings(app),
        scope=Scope(frameworks=tuple(frameworks)),
        run=latest_run(session),
        now=generator.REFERENCE_NOW,
        with_outcomes=with_outcomes,
    )


def work_excel(state: dict) -> dict:
    from app.reporting.excel import render_workbook

    app = _app(state)
    with _session(app) as session:
        started = _start()
        context = _context(state, app, session)
        built = time.perf_counter()
        data = render_workbook(context)
        seconds = _stop(started)
    (Path(state["workdir"]) / "export.xlsx").write_bytes(data)
    rows = len(context.findings)
    return {
        "seconds": seconds,
        "items": rows,
        "note": f"{rows:,} findings, {len(context.outcomes):,} outcomes, {len(data) / MB:.0f} MB "
        f"(context {built - started:.1f} s)",
    }


def _plain(value):
    """A value as openpyxl takes it with no logic: text for tuples and records, naive datetimes."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if is_dataclass(value):
        return str(value)
    return value


def work_excel_floor(state: dict) -> dict:
    from openpyxl import Workbook

    from app.inventory.store import paused_gc

    app = _app(state)
    with _session(app) as session:
        context = _context(state, app, session)
    sheets = {
        name: [[_plain(getattr(row, f.name)) for f in fields(row)] for row in rows]
        for name, rows in (
            ("Findings", context.findings),
            ("Agents", context.agents),
            ("MCP servers and tools", context.servers),
            ("Credentials", context.credentials),
            ("Policies", context.policies),
            ("Evidence", context.outcomes),
        )
    }
    del context
    # With the collector paused, as render_workbook runs: the floor is the best plain openpyxl does.
    with paused_gc():
        started = _start()
        wb = Workbook(write_only=True)
        for name, rows in sheets.items():
            ws = wb.create_sheet(name)
            for row in rows:
                ws.append(row)
        buffer = io.BytesIO()
        wb.save(buffer)
        seconds = _stop(started)
    return {"seconds": seconds, "items": sum(len(r) for r in sheets.values())}


def _pages(data: bytes) -> str:
    try:
        from pypdf import PdfReader
    except ImportError:
        return ""
    return f"{len(PdfReader(io.BytesIO(data)).pages)} pages, "


def _pdf(state: dict, *, frameworks, executive: bool, floor: bool) -> dict:
    from weasyprint import HTML

    from app.reporting.pdf import TEMPLATES_DIR, ReportsOnlyFetcher, render_html, render_pdf

    app = _app(state)
    with _session(app) as session:
        if floor:
            context = _context(state, app, session, frameworks=frameworks, with_outcomes=False)
            html = render_html(context, executive=executive)
            started = _start()
            data = HTML(
                string=html, base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=ReportsOnlyFetcher()
            ).write_pdf()
            return {"seconds": _stop(started)}
        started = _start()
        # A PDF shows no per-subject outcome: the context leaves them out (the workbook has them).
        context = _context(state, app, session, frameworks=frameworks, with_outcomes=False)
        built = time.perf_counter()
        data = render_pdf(context, executive=executive)
        seconds = _stop(started)
    name = "executive" if not frameworks else frameworks[0]
    (Path(state["workdir"]) / f"report-{name}.pdf").write_bytes(data)
    return {
        "seconds": seconds,
        "note": f"{_pages(data)}{len(data) / MB:.1f} MB (context {built - started:.1f} s)",
    }


def work_pdf_executive(state: dict) -> dict:
    return _pdf(state, frameworks=(), executive=True, floor=False)


def work_pdf_executive_floor(state: dict) -> dict:
    return _pdf(state, frameworks=(), executive=True, floor=True)


def work_pdf_framework(state: dict) -> dict:
    return _pdf(state, frameworks=(PDF_FRAMEWORK,), executive=False, floor=False)


def work_pdf_framework_floor(state: dict) -> dict:
    return _pdf(state, frameworks=(PDF_FRAMEWORK,), executive=False, floor=True)


WORKERS = {name[len("work_") :]: fn for name, fn in globals().items() if name.startswith("work_")}


def _worker_main(name: str, state_file: str) -> None:
    state = json.loads(Path(state_file).read_text())
    if state.get("profile"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(WORKERS[name], state)
        out = Path(state["workdir"]) / f"profile-{name}.txt"
        with out.open("w") as handle:
            pstats.Stats(profiler, stream=handle).sort_stats("cumulative").print_stats(60)
    else:
        result = WORKERS[name](state)
    result["peak_mb"] = _peak_mb()
    result["cpu"] = _cpu["seconds"]
    print("BENCH-RESULT " + json.dumps(result))


# --------------------------------------------------------------------------------------------------
# The orchestrator.


def _run_worker(name: str, state: dict, state_file: Path) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--state", str(state_file)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    for line in process.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT ") :])
    raise RuntimeError(
        f"scenario {name} failed (exit {process.returncode}):\n{process.stdout}\n{process.stderr}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _process_tree(pid: int) -> list[int]:
    """A process and its children (gunicorn's workers)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                children.append(int(entry.name))
    return [pid, *children]


def _server_command(args, port: int, steward: Path) -> list[str]:
    """The served app: gunicorn with a worker per core (the README's production shape), or waitress."""
    if args.server == "waitress":
        return [str(steward), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"]
    gunicorn = steward.with_name("gunicorn")
    if not gunicorn.exists():
        raise SystemExit("gunicorn is not installed: .venv/bin/pip install -e '.[bench]'")
    workers = str(args.http_workers or os.cpu_count() or 1)
    return [
        str(gunicorn),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        workers,
        "--threads",
        "4",
        "--timeout",
        "120",
        "app:create_app()",
    ]


def _sign_in(port: int, username: str, password: str) -> str:
    """Sign in as a browser does (the CSRF token from /login, then the form); the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    page = opener.open(f"{base}/login", timeout=60).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": password, "csrf_token": token, "next": "/health"}
    form = urllib.parse.urlencode(form)
    opener.open(f"{base}/login", data=form.encode(), timeout=60).read()
    session = next((c for c in jar if c.name == "steward_session"), None)
    if session is None:
        raise RuntimeError("signing in to steward serve gave no session cookie")
    return f"{session.name}={session.value}"


def _http(state: dict, args) -> list[tuple[str, dict, Target]]:
    """Serve the app (gunicorn or waitress) and put it under locust; the p95 of each page and of /health."""
    steward = Path(sys.executable).with_name("steward")
    locust = Path(sys.executable).with_name("locust")
    if not locust.exists():
        raise SystemExit("locust is not installed: .venv/bin/pip install -e '.[bench]'")
    env = {
        **os.environ,
        "STEWARD_INSTANCE_PATH": state["instance"],
        "STEWARD_SECURE_COOKIES": "0",
        "STEWARD_ACTOR": "bench",
    }
    # A new viewer each run, so that a run started again on the same database (--start-at) can sign in.
    username, password = f"bench-viewer-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    subprocess.run(
        [str(steward), "user", "create", username, "--role", "viewer", "--password-stdin"],
        input=password + "\n",
        env=env,
        text=True,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = open(Path(state["workdir"]) / "serve.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        _server_command(args, port, steward),
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("steward serve did not start; see serve.log")
        cookie = _sign_in(port, username, password)
        agents = ",".join(f"agent-{i:05d}" for i in range(0, state["agents"], max(1, state["agents"] // 50)))
        prefix = Path(state["workdir"]) / "locust"
        locust_env = {
            **os.environ,
            "STEWARD_BENCH_USER": username,
            "STEWARD_BENCH_PASSWORD": password,
            "STEWARD_BENCH_COOKIE": cookie,
            "STEWARD_BENCH_AGENTS": agents,
            "STEWARD_BENCH_MAX_REQUESTS": str(args.http_requests),
            "STEWARD_BENCH_FINDINGS_FILTER": "severity=high&team=platform&status=open",
            "STEWARD_BENCH_SUMMARY": f"{prefix}_summary.json",
        }
        users = str(args.http_users)
        Path(f"{prefix}_summary.json").unlink(missing_ok=True)  # never a previous run's figures
        processes = _process_tree(server.pid)
        cpu_before = sum(map(_cpu_seconds, processes))
        subprocess.run(
            [
                str(locust),
                "-f",
                str(BENCH / "locustfile.py"),
                "--headless",
                "-u",
                users,
                "-r",
                users,
                "-t",
                f"{args.http_seconds}s",
                "--host",
                f"http://127.0.0.1:{port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "10",
            ],
            env=locust_env,
            check=False,
            capture_output=True,
            text=True,
            timeout=args.http_seconds + 120,
        )
        peak = sum(map(_vm_hwm_mb, processes))  # every process of the server together
        server_cpu = sum(map(_cpu_seconds, processes)) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    summary = Path(f"{prefix}_summary.json")
    stats = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
    if "floor: /health" not in stats:
        raise RuntimeError(f"locust recorded no requests; see {summary} and serve.log")
    floor = stats["floor: /health"]["p95_ms"] / 1000
    total = sum(row["requests"] for row in stats.values())
    lines = []
    for name, label in (
        ("overview", "http-overview"),
        ("findings (filtered)", "http-findings-filtered"),
        ("agent page", "http-agent"),
    ):
        row = stats.get(name)
        if row is None:
            raise RuntimeError(f"locust recorded no {name!r} requests")
        p95 = row["p95_ms"] / 1000
        if row["failures"]:
            raise RuntimeError(f"{row['failures']} {name!r} requests failed; see {prefix}_failures.csv")
        result = {
            "seconds": p95,
            "peak_mb": peak,
            "floor": floor,
            "ratio": p95 / floor if floor else None,
            "note": f"p95 of {row['requests']} requests, "
            f"median {row['median_ms']:.0f} ms, {args.http_users} clients; "
            f"server CPU {server_cpu / max(total, 1) * 1000:.0f} ms a request over all {total}",
        }
        lines.append((label, result, Target(seconds=0.2)))
    return lines


def _fmt_seconds(value: float) -> str:
    return f"{value * 1000:7.0f} ms" if value < 1 else f"{value:7.2f} s "


def _line(name: str, result: dict, target: Target) -> str:
    ratio = f"{result['ratio']:5.2f}×" if result.get("ratio") is not None else "   — "
    floor = _fmt_seconds(result["floor"]) if result.get("floor") is not None else "      —   "
    if result.get("floor_cpu") is not None:
        floor += f" (cpu {_fmt_seconds(result['floor_cpu']).strip()})"
    rate = f"  {result['rate']:>9,.0f}/s" if result.get("rate") else ""
    cpu = f"  cpu {_fmt_seconds(result['cpu'])}" if result.get("cpu") is not None else ""
    verdict = {True: "met", False: "MISSED", None: "—"}[target.met(result)]
    note = f"  ({result['note']})" if result.get("note") else ""
    return (
        f"{name:<24} time {_fmt_seconds(result['seconds'])}{cpu}{rate}  peak {result['peak_mb']:6.0f} MB  "
        f"floor {floor}  ratio {ratio}  target {target.describe()}: {verdict}{note}"
    )


# (name, worker, floor worker, target)
SCENARIOS = [
    ("inventory-import", "import", "import_floor", Target(seconds=30, peak_mb=1024)),
    ("inventory-import-json", "import_json", "import_json_floor", Target(seconds=30, peak_mb=1024)),
    ("audit-import", "audit", "audit_floor", Target(rate=50_000, peak_mb=1024)),
    ("evaluation", "evaluate", "load_floor", Target(seconds=15, ratio=3)),
    ("evaluation-again", "evaluate", "load_floor", Target(seconds=15, ratio=3)),
    ("change-one-agent", "change_agent", None, Target()),
    ("re-evaluation", "reevaluate", "load_floor", Target(seconds=2)),
    ("http", None, None, None),
    ("excel-export", "excel", "excel_floor", Target(seconds=30, peak_mb=500, ratio=1.5)),
    ("pdf-executive", "pdf_executive", "pdf_executive_floor", Target(seconds=20)),
    ("pdf-framework", "pdf_framework", "pdf_framework_floor", Target(seconds=120)),
]


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = next(
        int(line.split()[1]) // 1024 // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GB RAM, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Steward's benchmark scenarios at a given scale.")
    parser.add_argument("--agents", type=int, default=200, help="scale: number of agents (L: 10000)")
    parser.add_argument("--seed", type=int, default=generator.SEED)
    parser.add_argument("--workdir", help="where the organisation, database and outputs go")
    parser.add_argument(
        "--skip", default="", help="comma-separated scenarios not to run (e.g. http,pdf-framework)"
    )
    parser.add_argument(
        "--start-at",
        help="reuse --workdir's organisation and database and start at this scenario (to iterate on one)",
    )
    parser.add_argument("--http-users", type=int, default=8)
    parser.add_argument(
        "--server",
        choices=("gunicorn", "waitress"),
        default="gunicorn",
        help="what serves the app under load: gunicorn, a worker per core (the production shape), "
        "or `steward serve` (waitress, one process)",
    )
    parser.add_argument("--http-workers", type=int, help="gunicorn workers (default: one per core)")
    parser.add_argument("--http-seconds", type=int, default=30, help="time bound of the HTTP load")
    parser.add_argument("--http-requests", type=int, default=4000, help="request bound of the HTTP load")
    parser.add_argument("--profile", action="store_true", help="write a cProfile listing per scenario")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(args.worker, args.state)
        return 0

    workdir = Path(args.workdir or f"/tmp/steward-bench-{args.agents}")
    workdir.mkdir(parents=True, exist_ok=True)
    org, instance = workdir / "org", workdir / "instance"
    print(f"machine: {_machine()}", flush=True)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    started = time.perf_counter()
    if args.start_at:
        if args.start_at not in [s[0] for s in SCENARIOS]:
            parser.error(f"--start-at: expected one of {', '.join(s[0] for s in SCENARIOS)}")
        if not (instance / "steward.db").exists():
            parser.error(f"--start-at: no database in {instance} to start from")
    else:
        counts = generator.generate(org, agents=args.agents, seed=args.seed)
        print(
            f"generated {counts.agents:,} agents, {counts.mcp_servers:,} MCP servers, "
            f"{counts.tools:,} tools, {counts.credentials:,} credentials, {counts.policies:,} policies, "
            f"{counts.approvals:,} approvals, {counts.events:,} events "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        shutil.rmtree(instance, ignore_errors=True)
        instance.mkdir()
    state = {
        "workdir": str(workdir),
        "org": str(org),
        "events": str(org / "events.jsonl"),
        "instance": str(instance),
        "agents": args.agents,
        "seed": args.seed,
        "profile": args.profile,
    }
    state_file = workdir / "state.json"
    state_file.write_text(json.dumps(state))
    _run_worker("prepare", state, state_file)
    skip = {s for s in args.skip.split(",") if s}
    results = []
    floors: dict[str, dict] = {}
    reached = not args.start_at
    for name, worker, floor_worker, target in SCENARIOS:
        reached = reached or name == args.start_at
        if name in skip or not reached:
            continue
        if name == "http":
            for label, result, http_target in _http(state, args):
                results.append((label, result))
                print(_line(label, result, http_target), flush=True)
            continue
        result = _run_worker(worker, state, state_file)
        if floor_worker:
            if floor_worker not in floors:
                floors[floor_worker] = _run_worker(floor_worker, state, state_file)
            floor = floors[floor_worker]
            result["floor"] = floor["seconds"]
            result["floor_cpu"] = floor.get("cpu")
            # On a shared machine wall-clock time swings with the load; CPU time, measured alike for
            # both, does not: the ratio is of CPU times when both have one.
            mine, least = (
                (result["cpu"], floor["cpu"])
                if result.get("cpu") and floor.get("cpu")
                else (result["seconds"], floor["seconds"])
            )
            result["ratio"] = mine / least if least else None
            if floor_worker == "load_floor":
                # Loading is cheap to repeat and the evaluation grows the database: measure it again.
                del floors[floor_worker]
        results.append((name, result))
        print(_line(name, result, target), flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}; total {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
