"""Finding metrics: days open, mean time to remediate, and regressions, from findings and their history.

Everything is computed in the database by four statements whatever the number of findings: one
grouped pass over `finding` (a materialised CTE), one grouped pass over the `finding_event` rows of
findings that were ever reopened (a finding never reopened has its whole history on its row), and
two short lists (the longest open, the newest regressions). Python only merges the grouped rows
into framework, severity and team views, since which frameworks a check evidences is in the catalog.

A finding's history alternates: opened, resolved, reopened, resolved, … A *remediation* is a
`resolved` event, lasting from the `opened`/`reopened` event before it. A *regression* is a
`reopened` event; it stayed clean from the `resolved` event before it. A resolution because the
subject left the inventory counts as a remediation: the gap is gone either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Float, and_, case, cast, extract, func, null, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from app.catalog import SEVERITIES, SEVERITY_RANK, Catalog
from app.models.assessment import ACTIVE_STATUSES, Finding, FindingChange, FindingEvent, FindingStatus

DAY = 86400.0
# Upper bounds (days, inclusive) of the age bands of open findings; the last band is open-ended.
AGE_BANDS = ((7, "0–7 days"), (30, "8–30 days"), (90, "31–90 days"), (None, "over 90 days"))
NO_TEAM = "(no team)"
ALL = "all"
RECENT_REGRESSIONS = 20
OLDEST_OPEN = 10


@dataclass(frozen=True)
class OpenAge:
    """The findings open now in one group: how many, and how long they have been open (in days)."""

    key: str
    label: str
    count: int
    mean_days: float | None
    oldest_days: float | None
    bands: tuple[int, ...]  # how many fall in each of AGE_BANDS


@dataclass(frozen=True)
class Duration:
    """Completed spells in one group (remediations, or clean spells ended by a regression)."""

    key: str
    label: str
    count: int
    mean_days: float | None


@dataclass(frozen=True)
class OpenFinding:
    """One of the longest-open findings."""

    finding_id: int
    check_id: str
    severity: str
    subject_kind: str
    subject_id: str
    team: str | None
    status: str
    open_since: datetime
    days_open: float


@dataclass(frozen=True)
class Regression:
    """A finding that failed again after having been resolved, and how long it had stayed clean."""

    finding_id: int
    check_id: str
    severity: str
    subject_kind: str
    subject_id: str
    team: str | None
    status: str  # the finding's status now
    resolved_at: datetime
    reopened_at: datetime
    clean_days: float


@dataclass(frozen=True)
class FindingMetrics:
    """Days open, time to remediate and regressions over the findings of a scope."""

    computed_at: datetime
    open: OpenAge
    open_by_severity: tuple[OpenAge, ...]
    open_by_team: tuple[OpenAge, ...]
    oldest_open: tuple[OpenFinding, ...]
    remediation: Duration
    remediation_by_framework: tuple[Duration, ...]
    remediation_by_severity: tuple[Duration, ...]
    remediation_by_team: tuple[Duration, ...]
    regressions: Duration  # count = regressions (reopen events), mean_days = how long they stayed clean
    regressions_by_severity: tuple[Duration, ...]
    regressions_by_team: tuple[Duration, ...]
    regressed_findings: int  # findings that regressed at least once
    reopened_now: int  # findings whose current status is reopened
    recent_regressions: tuple[Regression, ...]
    band_labels: tuple[str, ...] = field(default=tuple(label for _, label in AGE_BANDS))


def _epoch(session: Session, column) -> ColumnElement:
    """Seconds since 1970 of a stored datetime, in SQL (SQLite keeps datetimes as text)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * DAY
    return cast(extract("epoch", column), Float)


def _finding_filters(
    check_ids: Iterable[str] | None, teams: Iterable[str], environments: Iterable[str]
) -> list[ColumnElement]:
    filters = []
    if check_ids is not None:
        filters.append(Finding.check_id.in_(sorted(set(check_ids))))
    if teams:
        filters.append(Finding.team.in_(sorted(set(teams))))
    if environments:
        filters.append(Finding.environment.in_(sorted(set(environments))))
    return filters


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class _Sum:
    count: int = 0
    seconds: float = 0.0
    oldest: float = 0.0
    bands: list[int] = field(default_factory=lambda: [0] * len(AGE_BANDS))

    def add(self, count: int, seconds: float, oldest: float = 0.0, bands: Iterable[int] = ()) -> None:
        self.count += count
        self.seconds += float(seconds or 0.0)
        self.oldest = max(self.oldest, float(oldest or 0.0))
        for i, n in enumerate(bands):
            self.bands[i] += n or 0

    @property
    def mean_days(self) -> float | None:
        return self.seconds / self.count / DAY if self.count else None


def _ordered(groups: dict[str, _Sum], kind: str, catalog: Catalog | None) -> list[tuple[str, str, _Sum]]:
    if kind == "severity":
        keys = sorted(groups, key=lambda s: (SEVERITY_RANK.get(s, 9), s))
        return [(k, k, groups[k]) for k in keys]
    if kind == "framework":
        names = {f.id: f.name for f in catalog.frameworks.values()} if catalog else {}
        order = list(names)
        keys = sorted(groups, key=lambda f: (order.index(f) if f in order else len(order), f))
        return [(k, names.get(k, k), groups[k]) for k in keys]
    keys = sorted(groups, key=lambda t: (t == NO_TEAM, t))
    return [(k, k, groups[k]) for k in keys]


def _durations(groups: dict[str, _Sum], kind: str, catalog: Catalog | None = None) -> tuple[Duration, ...]:
    return tuple(Duration(k, label, s.count, s.mean_days) for k, label, s in _ordered(groups, kind, catalog))


def _ages(groups: dict[str, _Sum], kind: str) -> tuple[OpenAge, ...]:
    return tuple(_age(k, label, s) for k, label, s in _ordered(groups, kind, None))


def _age(key: str, label: str, s: _Sum) -> OpenAge:
    return OpenAge(key, label, s.count, s.mean_days, s.oldest / DAY if s.count else None, tuple(s.bands))


def finding_metrics(
    session: Session,
    *,
    catalog: Catalog | None = None,
    now: datetime,
    check_ids: Iterable[str] | None = None,
    teams: Iterable[str] = (),
    environments: Iterable[str] = (),
    regression_limit: int | None = RECENT_REGRESSIONS,
    oldest_limit: int = OLDEST_OPEN,
) -> FindingMetrics:
    """Days open, mean time to remediate per framework, severity and team, and regressions, in a few queries.

    check_ids, teams and environments narrow the findings (by check, and by the team and environment
    the finding is attributed to); regression_limit caps the list of recent regressions (None: all).
    """
    now = _aware(now)
    now_epoch = now.timestamp()
    filters = _finding_filters(check_ids, teams, environments)
    team = func.coalesce(Finding.team, NO_TEAM).label("team")
    group = (Finding.check_id, Finding.severity, team)

    def relative(column) -> ColumnElement:
        """Seconds from now to a stored datetime (negative in the past), small enough to sum precisely."""
        return _epoch(session, column) - now_epoch

    # A reopened finding has been open since its last reopening; any other since it was first seen.
    last_reopened_at = (
        select(func.max(FindingEvent.at))
        .where(FindingEvent.finding_id == Finding.id, FindingEvent.change == FindingChange.REOPENED.value)
        .scalar_subquery()
    )
    open_since = case(
        (
            Finding.status == FindingStatus.REOPENED.value,
            func.coalesce(last_reopened_at, Finding.first_seen_at),
        ),
        else_=Finding.first_seen_at,
    )
    age = -relative(open_since)
    # A finding never reopened has its whole history on its row (first_seen_at is its opening,
    # resolved_at its resolution), so only reopened findings need their events read.
    is_single = Finding.reopened_count == 0
    resolved_once = and_(is_single, Finding.status == FindingStatus.RESOLVED.value)
    # Each finding's figures are worked out once (a materialised CTE), then grouped with its age band.
    per_finding = (
        select(
            *group,
            case((Finding.status.in_(ACTIVE_STATUSES), age)).label("age"),
            case((Finding.status == FindingStatus.RESOLVED.value, relative(Finding.resolved_at))).label(
                "last_resolved"
            ),
            case((is_single, relative(Finding.first_seen_at))).label("single_opened"),
            case((resolved_once, relative(Finding.resolved_at))).label("single_resolved"),
            case((resolved_once, 1), else_=0).label("is_resolved_once"),
            case((is_single, 0), else_=1).label("has_regressed"),
            case((Finding.status == FindingStatus.REOPENED.value, 1), else_=0).label("is_reopened"),
        )
        .where(*filters)
        .cte("per_finding")
        .prefix_with("MATERIALIZED")
    )
    f = per_finding.c
    band = case(
        (f.age.is_(None), null()),
        *((f.age <= upper * DAY, i) for i, (upper, _) in enumerate(AGE_BANDS) if upper is not None),
        else_=len(AGE_BANDS) - 1,
    ).label("band")
    finding_rows = session.execute(
        select(
            f.check_id,
            f.severity,
            f.team,
            band,
            func.count(f.age),
            func.sum(f.age),
            func.max(f.age),
            func.sum(f.last_resolved),
            func.sum(f.single_opened),
            func.sum(f.single_resolved),
            func.sum(f.is_resolved_once),
            func.sum(f.has_regressed),
            func.sum(f.is_reopened),
        ).group_by(f.check_id, f.severity, f.team, band)
    ).all()
    event_rows = session.execute(
        select(*group, FindingEvent.change, func.count(), func.sum(relative(FindingEvent.at)))
        .join(Finding, Finding.id == FindingEvent.finding_id)
        .where(Finding.reopened_count > 0, *filters)
        .group_by(*group, FindingEvent.change)
    ).all()

    open_total, open_severity, open_team = _Sum(), defaultdict(_Sum), defaultdict(_Sum)
    # Per (check, severity, team): sums of the moments in its findings' histories (see _spells).
    sums: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    regressed = reopened_now = 0
    for row in finding_rows:
        (check_id, severity, team_name, band_index, count, seconds, oldest) = row[:7]
        last_resolved, opened, resolved, resolved_count, has_regressed, is_reopened = row[7:]
        entry = sums[(check_id, severity, team_name)]
        entry["last_resolved"] += float(last_resolved or 0.0)
        entry["opened_sum"] += float(opened or 0.0)
        entry["resolved_sum"] += float(resolved or 0.0)
        entry["resolved_count"] += int(resolved_count or 0)
        regressed += int(has_regressed or 0)
        reopened_now += int(is_reopened or 0)
        if band_index is None:
            continue
        bands = [count if i == band_index else 0 for i in range(len(AGE_BANDS))]
        for target in (open_total, open_severity[severity], open_team[team_name]):
            target.add(count, seconds, oldest, bands)
        entry["open_age"] += float(seconds)
    for severity in SEVERITIES:
        open_severity.setdefault(severity, _Sum())
    for check_id, severity, team_name, change, count, seconds in event_rows:
        entry = sums[(check_id, severity, team_name)]
        entry[f"{change}_count"] += count
        entry[f"{change}_sum"] += float(seconds or 0.0)

    totals = {"remediation": _Sum(), "regression": _Sum()}
    by = {
        (kind, dimension): defaultdict(_Sum)
        for kind in totals
        for dimension in ("framework", "severity", "team")
    }
    frameworks_of: dict[str, set[str]] = {}
    if catalog is not None:
        frameworks_of = {c: {fw for fw, _ in pairs} for c, pairs in catalog.requirements_by_check.items()}
    for (check_id, severity, team_name), entry in sums.items():
        for kind, (count, seconds) in _spells(entry).items():
            if not count:
                continue
            totals[kind].add(count, seconds)
            by[(kind, "severity")][severity].add(count, seconds)
            by[(kind, "team")][team_name].add(count, seconds)
            for framework_id in frameworks_of.get(check_id, ()):
                by[(kind, "framework")][framework_id].add(count, seconds)

    oldest = session.execute(
        select(
            Finding.id,
            Finding.check_id,
            Finding.severity,
            Finding.subject_kind,
            Finding.subject_id,
            Finding.team,
            Finding.status,
            open_since.label("open_since"),
        )
        .where(Finding.status.in_(ACTIVE_STATUSES), *filters)
        .order_by(open_since, Finding.id)
        .limit(oldest_limit)
    ).all()

    reopening = aliased(FindingEvent)
    resolved_before = (
        select(func.max(FindingEvent.at))
        .where(
            FindingEvent.finding_id == reopening.finding_id,
            FindingEvent.change == FindingChange.RESOLVED.value,
            FindingEvent.at <= reopening.at,
        )
        .scalar_subquery()
    )
    regression_query = (
        select(
            Finding.id,
            Finding.check_id,
            Finding.severity,
            Finding.subject_kind,
            Finding.subject_id,
            Finding.team,
            Finding.status,
            resolved_before.label("resolved_at"),
            reopening.at,
        )
        .join(Finding, Finding.id == reopening.finding_id)
        .where(reopening.change == FindingChange.REOPENED.value, *filters)
        .order_by(reopening.at.desc(), reopening.id.desc())
    )
    if regression_limit is not None:
        regression_query = regression_query.limit(regression_limit)
    regressions = [row for row in session.execute(regression_query).all() if row.resolved_at is not None]

    return FindingMetrics(
        computed_at=now,
        open=_age(ALL, "All open findings", open_total),
        open_by_severity=_ages(open_severity, "severity"),
        open_by_team=_ages(open_team, "team"),
        oldest_open=tuple(
            OpenFinding(
                finding_id=row.id,
                check_id=row.check_id,
                severity=row.severity,
                subject_kind=row.subject_kind,
                subject_id=row.subject_id,
                team=row.team,
                status=row.status,
                open_since=_stored_datetime(row.open_since),
                days_open=(now - _stored_datetime(row.open_since)).total_seconds() / DAY,
            )
            for row in oldest
        ),
        remediation=Duration(
            ALL, "All remediated findings", totals["remediation"].count, totals["remediation"].mean_days
        ),
        remediation_by_framework=_durations(by[("remediation", "framework")], "framework", catalog),
        remediation_by_severity=_durations(by[("remediation", "severity")], "severity"),
        remediation_by_team=_durations(by[("remediation", "team")], "team"),
        regressions=Duration(
            ALL, "All regressions", totals["regression"].count, totals["regression"].mean_days
        ),
        regressions_by_severity=_durations(by[("regression", "severity")], "severity"),
        regressions_by_team=_durations(by[("regression", "team")], "team"),
        regressed_findings=int(regressed),
        reopened_now=int(reopened_now),
        recent_regressions=tuple(
            Regression(
                finding_id=row.id,
                check_id=row.check_id,
                severity=row.severity,
                subject_kind=row.subject_kind,
                subject_id=row.subject_id,
                team=row.team,
                status=row.status,
                resolved_at=_stored_datetime(row.resolved_at),
                reopened_at=_stored_datetime(row.at),
                clean_days=(_stored_datetime(row.at) - _stored_datetime(row.resolved_at)).total_seconds()
                / DAY,
            )
            for row in regressions
        ),
    )


def _spells(entry: dict[str, float]) -> dict[str, tuple[int, float]]:
    """Remediations and clean spells of a group (how many, total seconds) from sums over its history.

    Histories alternate, so every resolution closes the opening (or reopening) before it, except
    that an open finding's current opening is not closed yet; and every reopening closes the
    resolution before it, except that a resolved finding's last resolution is not closed yet.
    Sums of those moments therefore give the sums of the spells without pairing events.
    """
    starts = entry["opened_sum"] + entry["reopened_sum"]
    current_starts = -entry["open_age"]  # the open findings' current openings, relative to now
    return {
        "remediation": (int(entry["resolved_count"]), entry["resolved_sum"] - (starts - current_starts)),
        "regression": (
            int(entry["reopened_count"]),
            entry["reopened_sum"] - (entry["resolved_sum"] - entry["last_resolved"]),
        ),
    }


def _stored_datetime(value) -> datetime:
    """A datetime from a computed column (a CASE or a window), which the database hands back untyped."""
    if isinstance(value, datetime):
        return _aware(value).astimezone(UTC)
    return _aware(datetime.fromisoformat(str(value))).astimezone(UTC)
