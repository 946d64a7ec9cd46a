"""Locust users for bench/run.py: signed-in viewers reading the overview, a filtered findings page and agents.

Run by bench/run.py (headless, bounded in time and in requests), which signs in once and hands the
session cookie over in STEWARD_BENCH_COOKIE; by hand, each user signs in itself:

    STEWARD_BENCH_USER=bench STEWARD_BENCH_PASSWORD=... STEWARD_BENCH_AGENTS=agent-00001,agent-00002 \
        locust -f bench/locustfile.py --headless -u 8 -r 8 -t 30s --host http://127.0.0.1:5055

/health (no template, no database) is the floor: the same server, client and load with no page logic.
STEWARD_BENCH_MAX_REQUESTS stops the run once that many requests have been made.
STEWARD_BENCH_SUMMARY names a JSON file that receives, when the run ends, each request name's count,
failures, median and p95 (ms). Locust's own CSV is rewritten only every few seconds and not at the
end, so a run shorter than that leaves it without the requests.
"""

from __future__ import annotations

import itertools
import json
import os
import re

from locust import HttpUser, constant, events, task

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
AGENTS = [a for a in os.environ.get("STEWARD_BENCH_AGENTS", "").split(",") if a]
FINDINGS_FILTER = os.environ.get("STEWARD_BENCH_FINDINGS_FILTER", "severity=high&status=open")
MAX_REQUESTS = int(os.environ.get("STEWARD_BENCH_MAX_REQUESTS", "0"))
SIGN_IN = "login (setup)"
_agent_cycle = itertools.cycle(AGENTS or ["missing-agent"])
_made = itertools.count(1)


@events.request.add_listener
def _bound(name: str = "", **_kwargs) -> None:
    # A bounded run: stop every user once the request budget is spent (the time limit bounds it too).
    if MAX_REQUESTS and name != SIGN_IN and next(_made) >= MAX_REQUESTS:
        runner = _bound.environment.runner
        if runner is not None:
            runner.quit()


@events.init.add_listener
def _remember(environment, **_kwargs) -> None:
    _bound.environment = environment


@events.quit.add_listener
def _summarise(**_kwargs) -> None:
    path = os.environ.get("STEWARD_BENCH_SUMMARY")
    runner = _bound.environment.runner
    if not path or runner is None:
        return
    summary = {
        entry.name: {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "median_ms": entry.median_response_time,
            "p95_ms": entry.get_response_time_percentile(0.95),
        }
        for entry in runner.stats.entries.values()
    }
    with open(path, "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=1)


class Viewer(HttpUser):
    """A signed-in viewer: one session cookie, reused for every request."""

    wait_time = constant(0)

    def on_start(self) -> None:
        cookie = os.environ.get("STEWARD_BENCH_COOKIE")
        if cookie:
            # bench/run.py signed in once: every user reuses that session.
            name, _, value = cookie.partition("=")
            self.client.cookies.set(name, value)
            return
        page = self.client.get("/login", name=SIGN_IN)
        token = CSRF.search(page.text)
        response = self.client.post(
            "/login",
            data={
                "username": os.environ["STEWARD_BENCH_USER"],
                "password": os.environ["STEWARD_BENCH_PASSWORD"],
                "csrf_token": token.group(1) if token else "",
                "next": "/health",
            },
            name=SIGN_IN,
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed with HTTP {response.status_code}")

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    @task
    def overview(self) -> None:
        self._get("/", "overview")

    @task
    def findings(self) -> None:
        self._get(f"/findings?{FINDINGS_FILTER}", "findings (filtered)")

    @task
    def agent(self) -> None:
        self._get(f"/agents/{next(_agent_cycle)}", "agent page")

    @task
    def health(self) -> None:
        self._get("/health", "floor: /health")
