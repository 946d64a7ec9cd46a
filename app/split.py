"""A full evaluation's per-agent checks, split across processes by ranges of agent ids.

A full run over a large audit log spends most of its time on the per-agent checks (Reach.AGENT in
app/incremental.py): reading each agent's recorded calls, grouping them, judging them. One agent's
outcomes depend only on its own record and calls, the records of the agents it delegates to, and
the rest of the inventory (the rule incremental runs stand on, and are tested against), so the
agents can be cut into ranges of ids and each range checked on a core of its own:

- the evaluating process starts one worker per range but the first (`python -m app.split`),
  handing it the catalog, the settings, the time and its range on its standard input;
- each worker reads the inventory and its range's events in a read transaction of its own, runs
  the per-agent checks over its range and sends back the outcomes, the subjects it examined and
  the agents' shares of the statistics;
- meanwhile the evaluating process runs the inventory-wide checks and its own range; it merges
  the ranges' outcomes into what one process would have found.

A worker must read what the evaluating process reads. That holds only when the evaluation's
transaction has written nothing yet (hold_write_lock says so) and holds the write lock, so that no
import commits meanwhile; on PostgreSQL the worker also takes the evaluating transaction's exported
snapshot. The worker checks that it sees the same audit log (count and newest id). A worker that
fails, disagrees or does not answer in time is not trusted: its range is checked in the evaluating
process instead, with the same result, and the log says why.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlmodel import Session

from app.config import usable_cores

log = logging.getLogger(__name__)

MAX_PROCESSES = 4
# The project's root, for the worker to import the app from wherever this process did.
ROOT = str(Path(__file__).resolve().parent.parent)
WORKER_COMMAND = [sys.executable, "-m", "app.split"]
# How long to wait for a worker beyond the time the evaluating process took for its own range.
GRACE_SECONDS = 120
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]+$")


@dataclass(frozen=True)
class AgentRange:
    """Agent ids from low (included) to high (not included), in code-point order; None: open."""

    low: str | None
    high: str | None

    def __contains__(self, agent_id: object) -> bool:
        if not isinstance(agent_id, str):
            return False  # an outcome about no agent
        return (self.low is None or self.low <= agent_id) and (self.high is None or agent_id < self.high)

    @property
    def bounds(self) -> tuple[str | None, str | None]:
        return self.low, self.high


@dataclass
class RangeResults:
    """What the per-agent checks found over one range of agents."""

    failing: dict = field(default_factory=dict)
    examined: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    shares: dict = field(default_factory=dict)
    unfiled: int = 0  # outcomes about no agent: they cannot be split by agent
    has_separator: bool = False  # an agent id with "::" makes an access's agent ambiguous


class Subjects:
    """The subjects the ranges of a split run examined, one set each (disjoint), looked up as one.

    Merging them into one set would copy hundreds of thousands of subjects per check for the few
    lookups the reconciling makes.
    """

    def __init__(self, sets: list[set]) -> None:
        self.sets = sets

    def __contains__(self, subject: object) -> bool:
        return any(subject in s for s in self.sets)

    def __len__(self) -> int:
        return sum(map(len, self.sets))


def ranges_of(agent_ids: list[str], count: int) -> list[AgentRange]:
    """count ranges of about as many inventoried agents each, covering every possible id."""
    ordered = sorted(set(agent_ids))
    pivots = sorted({ordered[len(ordered) * k // count] for k in range(1, count)}) if ordered else []
    bounds = [None, *pivots, None]
    return [AgentRange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def plan_split(
    session: Session, settings, *, event_count: int, is_clean: bool
) -> tuple[list[AgentRange], str]:
    """The ranges a full run splits into (one: no split), and why it does not split."""
    wanted = settings.evaluation_processes or min(usable_cores(), MAX_PROCESSES)
    if wanted < 2:
        return [AgentRange(None, None)], "one process configured or available"
    if event_count < settings.evaluation_split_min_events:
        return [AgentRange(None, None)], "the audit log is small"
    if not is_clean:
        return [AgentRange(None, None)], "the transaction has written: another process could not see it"
    if not sys.executable:
        return [AgentRange(None, None)], "no Python interpreter to start"
    connection = session.connection()
    url = connection.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return [AgentRange(None, None)], "an in-memory database"
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        return [AgentRange(None, None)], f"the {url.get_backend_name()} database"
    from app.models.inventory import Agent

    agent_ids = list(session.execute(select(Agent.id)).scalars())
    if any("::" in a for a in agent_ids):
        return [AgentRange(None, None)], "an agent id contains '::'"
    ranges = ranges_of(agent_ids, min(wanted, max(1, len(agent_ids))))
    return ranges, ""


class Worker:
    """One range's per-agent checks, run by a process of its own."""

    def __init__(self, agent_range: AgentRange, job: dict) -> None:
        self.range = agent_range
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(), after the worker ends
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, env=env
        )
        payload = pickle.dumps({**job, "range": agent_range.bounds}, protocol=pickle.HIGHEST_PROTOCOL)
        # Written by a thread: the worker reads its job only once it has imported the app.
        self._feeder = threading.Thread(target=self._feed, args=(payload,), daemon=True)
        self._feeder.start()

    def _feed(self, payload: bytes) -> None:
        try:
            self.process.stdin.write(payload)
            self.process.stdin.close()
        except OSError:
            pass  # the worker is gone: result() says why

    def result(self, timeout: float) -> tuple[RangeResults | None, str]:
        """The worker's results, or None and why they cannot be used."""
        try:
            try:
                out, _ = self._communicate(timeout)
            except subprocess.TimeoutExpired:
                return None, f"no answer within {timeout:.0f} s"
            code = self.process.returncode
            if code != 0:
                return None, self._last_words(code)
            try:
                reply = pickle.loads(out)
            except Exception as exc:
                return None, f"an unreadable answer ({type(exc).__name__})"
            if not reply.get("ok"):
                return None, reply.get("why", "it refused")
            return reply["results"], ""
        finally:
            self.close()

    def _communicate(self, timeout: float):
        self._feeder.join(timeout)
        self.process.stdin = None  # written and closed by the feeder
        return self.process.communicate(timeout=timeout)

    def _last_words(self, code: int) -> str:
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {code}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._errors.close()


def start_workers(session: Session, ranges: list[AgentRange], job: dict) -> list[Worker]:
    """A worker for every range but the first (the evaluating process checks that one)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        job["snapshot"] = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
    job["url"] = connection.engine.url.render_as_string(hide_password=False)
    workers: list[Worker] = []
    try:
        for agent_range in ranges[1:]:
            workers.append(Worker(agent_range, job))
    except OSError:
        for worker in workers:
            worker.close()
        raise
    return workers


def collect(workers: list[Worker], *, own_seconds: float) -> list[tuple[AgentRange, RangeResults | None]]:
    """Each worker's results (None for one that failed, which is logged)."""
    collected = []
    deadline = time.monotonic() + GRACE_SECONDS + 2 * own_seconds
    for worker in workers:
        results, why = worker.result(max(1.0, deadline - time.monotonic()))
        if results is None:
            log.warning(
                "evaluation: the worker for agents %s–%s failed (%s); checking them in this process",
                worker.range.low or "…",
                worker.range.high or "…",
                why,
            )
        collected.append((worker.range, results))
    return collected


def check_range(
    session: Session,
    *,
    catalog,
    inventory,
    settings: dict,
    now: datetime,
    agent_range: AgentRange,
    has_events: bool,
) -> RangeResults:
    """Run the per-agent checks over one range of agents (and the agents they delegate to)."""
    from app.evaluation import run_checks
    from app.incremental import Reach, checks_of, focus_inventory
    from app.inventory.audit_log import load_events
    from app.snapshot import Snapshot

    agents = frozenset(a.id for a in inventory.agents if a.id in agent_range)
    events = load_events(session, agent_range=agent_range.bounds)
    focus = Snapshot(
        focus_inventory(inventory, agents),
        now=now,
        settings=settings,
        events=events,
        events_ordered=True,
        has_events=has_events,
    )
    shares: dict = {}
    checked = run_checks(
        focus, catalog, check_ids=checks_of(catalog, Reach.AGENT), agents=agent_range, shares=shares
    )
    return RangeResults(
        failing=checked.failing,
        examined=checked.examined,
        stats=checked.stats,
        errors=checked.errors,
        shares=shares,
        unfiled=checked.unfiled,
        has_separator=any("::" in a for a in focus.events_by_agent),
    )


def _work(job: dict) -> dict:
    """A worker's whole job: its range's results, in a read transaction of its own."""
    from app.db import make_engine
    from app.incremental import EventStats, event_stats
    from app.inventory.store import load_inventory

    engine = make_engine(job["url"])
    with Session(engine) as session:
        snapshot = job.get("snapshot")
        if snapshot is not None:
            if not _SNAPSHOT_ID.match(snapshot):
                return {"ok": False, "why": "a malformed snapshot id"}
            connection = session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            connection.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        seen = event_stats(session)
        if seen != EventStats(*job["events"]):
            return {
                "ok": False,
                "why": f"it sees another audit log ({seen.count} events, newest {seen.max_id})",
            }
        results = check_range(
            session,
            catalog=job["catalog"],
            inventory=load_inventory(session),
            settings=job["settings"],
            now=job["now"],
            agent_range=AgentRange(*job["range"]),
            has_events=job["has_events"],
        )
        session.rollback()
    return {"ok": True, "results": results}


def main() -> None:
    """`python -m app.split`: read a job on standard input, write the results on standard output."""
    import gc

    # Everything it allocates lives until it exits: the collector would only walk it over and over.
    gc.disable()
    # The answer is the only thing on standard output: whatever else prints goes to standard error.
    answer = sys.stdout.buffer
    sys.stdout = sys.stderr
    job = pickle.load(sys.stdin.buffer)
    reply = _work(job)
    answer.write(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    answer.flush()
    # Exit without freeing a million objects one by one: the operating system takes them back at once.
    os._exit(0)


if __name__ == "__main__":
    # Run as the module app.split, not as __main__: the results it pickles name app.split's classes.
    from app.split import main as _main

    _main()
