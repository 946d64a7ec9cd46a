"""render_workbook(): the evidence report as an Excel workbook an auditor can filter, from the same context.

Every sheet has a styled, frozen header row with an autofilter; dates are real dates (UTC);
and no cell can run as a formula: text that begins with =, +, -, @, a tab or a carriage
return is stored as text with Excel's quote prefix.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from operator import itemgetter

from app.inventory.store import paused_gc
from app.reporting import xlsx
from app.reporting.context import OUTCOME_FIELDS, STATUS_LABELS, STATUS_MEANINGS, ReportContext
from app.reporting.xlsx import DATE_FORMAT, FORMULA_PREFIXES, SHEET_NAME_BAD, Style, XlsxWriter

__all__ = ["DATE_FORMAT", "FORMULA_PREFIXES", "STATIC_SHEETS", "render_workbook", "sheet_title"]

HEADER = Style(bold=True, color="FFFFFF", fill="1B2636", vertical="center")
NOTE = Style(italic=True, color="495057")
LABEL = Style(bold=True)
# The badge colours of the dashboard and the PDF, so that a status reads the same everywhere.
STATUS_FILLS = {
    status: Style(fill=colour)
    for status, colour in (
        ("pass", "D3F9D8"),
        ("attested", "D3F9D8"),
        ("fail", "FFE3E3"),
        ("error", "FFF4E6"),
        ("not_attested", "FFF3BF"),
        ("partial", "E5DBFF"),
        ("no_data", "E9ECEF"),
        ("not_applicable", "E9ECEF"),
    )
}
MIN_WIDTH, MAX_WIDTH, WIDE = 8, 50, 80
EVIDENCE_SHEET = "Evidence"
STATIC_SHEETS = (
    "Summary",
    "Findings",
    "Exceptions",
    "Attestations",
    "Agents",
    "MCP servers and tools",
    "Credentials",
    "Policies",
    EVIDENCE_SHEET,
    "Metrics",
    "Regressions",
)


@dataclass(frozen=True)
class Column:
    """A column of a sheet: its header, how to get the value from a row, and whether it holds long text."""

    header: str
    value: Callable
    is_wide: bool = False  # long text: a wide column, and written in the cell, not the shared strings
    fill: Callable | None = None  # the row's Style (a fill) for this cell, or None


def _joined(values: Iterable[str] | None) -> str:
    return ", ".join(values or ())


def _widths(columns: Sequence[Column], rows: Sequence) -> list[float]:
    widths = []
    for column in columns:
        if column.is_wide:
            widths.append(WIDE)
            continue
        longest = len(column.header)
        for row in islice(rows, 300):
            value = column.value(row)
            text = value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value or "")
            longest = max(longest, len(text))
        widths.append(max(MIN_WIDTH, min(MAX_WIDTH, longest + 2)))
    return widths


def _sheet(
    book: XlsxWriter, title: str, columns: Sequence[Column], rows: Sequence, note: str | None = None
) -> None:
    """A sheet with an optional note line, a styled frozen header, one row per item, and an autofilter.

    Rows beyond Excel's 1,048,576 go on to continuation sheets ("Evidence (2)", ...), each with the
    header and a note saying which rows it holds: at twice scale L the Evidence sheet has 1.3 million.
    """
    total = len(rows)
    capacity = xlsx.MAX_ROWS - (2 if note else 1)
    if total > capacity:
        capacity = xlsx.MAX_ROWS - 2  # every part then has a note line
    parts = max(1, -(-total // capacity))
    taken = {s.title.lower() for s in book.sheets} | {s.lower() for s in STATIC_SHEETS} | {title.lower()}
    titles = [title] + [sheet_title(f"{title} ({part})", taken) for part in range(2, parts + 1)]
    widths = _widths(columns, rows)
    remaining = iter(rows)
    for part, name in enumerate(titles, start=1):
        first, last = (part - 1) * capacity + 1, min(part * capacity, total)
        part_note = note
        if parts > 1:
            where = f"Rows {first:,}–{last:,} of {total:,}" + (
                f"; continued on the sheet '{titles[part]}'." if part < parts else "."
            )
            part_note = f"{note} {where}" if note else where
        _sheet_part(book, name, columns, widths, islice(remaining, capacity), last - first + 1, part_note)


def _sheet_part(
    book: XlsxWriter,
    title: str,
    columns: Sequence[Column],
    widths: list[float],
    rows: Iterable,
    count: int,
    note: str | None,
) -> None:
    header_row = 2 if note else 1
    with book.sheet(
        title, widths=widths, freeze_rows=header_row, inline=[column.is_wide for column in columns]
    ) as ws:
        if note:
            ws.append([note], [book.style(NOTE)])
        ws.append([column.header for column in columns], [book.style(HEADER)] * len(columns))
        values = [column.value for column in columns]
        filled = [(index, column.fill) for index, column in enumerate(columns) if column.fill]
        if not filled:
            for row in rows:
                ws.append([value(row) for value in values])
        else:
            for row in rows:
                styles: list[int | None] = [None] * len(columns)
                for index, fill in filled:
                    style = fill(row)
                    styles[index] = None if style is None else book.style(style)
                ws.append([value(row) for value in values], styles)
        ws.autofilter(header_row, header_row + max(count, 1), len(columns))


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (at most 31 characters, none of []:*?/\\)."""
    base = SHEET_NAME_BAD.sub("_", name)[:31] or "Framework"
    title, n = base, 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


@paused_gc()  # a million cells over a context of a million objects: see paused_gc
def render_workbook(context: ReportContext) -> bytes:
    """The report as XLSX bytes."""
    with tempfile.TemporaryFile() as handle:
        with XlsxWriter(handle, created=context.generated_at) as book:
            _sheets(book, context)
        handle.seek(0)
        return handle.read()


def _sheets(wb: XlsxWriter, r: ReportContext) -> None:
    _summary(wb, r)
    taken = {s.lower() for s in STATIC_SHEETS}
    for section in r.frameworks:
        groups: dict[str, str] = {}
        rows = []
        for item in section.items:
            if item.kind == "group":
                groups[item.depth] = f"{item.id} {item.title}"
                continue
            path = " / ".join(groups[d] for d in sorted(groups) if d < item.depth)
            rows.append((item, path))
        _sheet(
            wb,
            sheet_title(section.id, taken),
            [
                Column("Requirement id", lambda x: x[0].id),
                Column("Title", lambda x: x[0].title),
                Column("Group", lambda x: x[1]),
                Column(
                    "Status",
                    lambda x: STATUS_LABELS.get(x[0].status, x[0].status),
                    fill=lambda x: STATUS_FILLS.get(x[0].status),
                ),
                Column("Manual", lambda x: x[0].is_manual),
                Column("Checks", lambda x: _joined(c.check_id for c in x[0].checks)),
                Column("Subjects examined", lambda x: sum(c.examined for c in x[0].checks)),
                Column("Passed", lambda x: sum(c.passed for c in x[0].checks)),
                Column("Failed", lambda x: sum(c.failed for c in x[0].checks)),
                Column("Open findings", lambda x: x[0].open_findings),
                Column("Risk accepted", lambda x: x[0].excepted_findings),
                Column("Attested by", lambda x: x[0].attestation.attested_by if x[0].attestation else None),
                Column(
                    "Attestation expires (UTC)",
                    lambda x: x[0].attestation.expires_at if x[0].attestation else None,
                ),
                Column(
                    "Status inferred from",
                    lambda x: "; ".join(s.text for s in x[0].inferred_from),
                    is_wide=True,
                ),
                Column("Summary", lambda x: x[0].summary, is_wide=True),
            ],
            rows,
            note=f"{section.name} ({section.publisher}, {section.version}). Score {_score(section.score)}."
            + (
                ""
                if section.official_ids
                else f" Requirement ids are Steward's, not the publisher's. {section.id_note or ''}"
            ),
        )
    _sheet(
        wb,
        "Findings",
        [
            Column("Finding id", lambda f: f.id),
            Column("Severity", lambda f: f.severity),
            Column("Status", lambda f: f.status),
            Column("Risk accepted", lambda f: f.is_excepted),
            Column("Exception expires (UTC)", lambda f: f.exception_expires_at),
            Column("Check id", lambda f: f.check_id),
            Column("Check", lambda f: f.check_title),
            Column("Subject kind", lambda f: f.subject_kind),
            Column("Subject id", lambda f: f.subject_id),
            Column("Agent", lambda f: f.agent_id),
            Column("Team", lambda f: f.team),
            Column("Environment", lambda f: f.environment),
            Column("Requirements", lambda f: _joined(f.requirements)),
            Column("First seen (UTC)", lambda f: f.first_seen_at),
            Column("Last seen (UTC)", lambda f: f.last_seen_at),
            Column("Resolved (UTC)", lambda f: f.resolved_at),
            Column("Times reopened", lambda f: f.reopened_count),
            Column("Detail", lambda f: f.detail, is_wide=True),
        ],
        r.findings,
    )
    _sheet(
        wb,
        "Exceptions",
        [
            Column("Exception id", lambda e: e.id),
            Column("Finding id", lambda e: e.finding_id),
            Column("State", lambda e: e.state),
            Column("Severity", lambda e: e.severity),
            Column("Check id", lambda e: e.check_id),
            Column("Subject id", lambda e: e.subject_id),
            Column("Team", lambda e: e.team),
            Column("Environment", lambda e: e.environment),
            Column("Accepted by", lambda e: e.accepted_by),
            Column("Accepted (UTC)", lambda e: e.accepted_at),
            Column("Expires (UTC)", lambda e: e.expires_at),
            Column("Revoked (UTC)", lambda e: e.revoked_at),
            Column("Revoked by", lambda e: e.revoked_by),
            Column("Justification", lambda e: e.justification, is_wide=True),
        ],
        r.exceptions,
    )
    _sheet(
        wb,
        "Attestations",
        [
            Column("Attestation id", lambda a: a.id),
            Column("Framework", lambda a: a.framework_id),
            Column("Requirement id", lambda a: a.requirement_id),
            Column("Requirement", lambda a: a.requirement_title),
            Column("State", lambda a: a.state),
            Column("Not applicable", lambda a: a.is_not_applicable),
            Column("Attested by", lambda a: a.attested_by),
            Column("Attested (UTC)", lambda a: a.attested_at),
            Column("Expires (UTC)", lambda a: a.expires_at),
            Column("Revoked (UTC)", lambda a: a.revoked_at),
            Column("Evidence URL", lambda a: a.evidence_url),
            Column("Evidence file", lambda a: a.evidence_file_name),
            Column("Evidence SHA-256", lambda a: a.evidence_sha256),
            Column("Statement", lambda a: a.statement, is_wide=True),
        ],
        r.attestations,
    )
    _sheet(
        wb,
        "Agents",
        [
            Column("Agent id", lambda a: a.id),
            Column("Name", lambda a: a.name),
            Column("Owner", lambda a: a.owner),
            Column("Team", lambda a: a.team),
            Column("Environment", lambda a: a.environment),
            Column("Status", lambda a: a.status),
            Column("Autonomy", lambda a: a.autonomy),
            Column("Identity kind", lambda a: a.identity_kind),
            Column("Identity id", lambda a: a.identity_id),
            Column("Identity attested", lambda a: a.is_identity_attested),
            Column("Credentials", lambda a: _joined(a.credentials)),
            Column("Tools", lambda a: _joined(t.ref for t in a.tools)),
            Column(
                "Tools without a policy", lambda a: _joined(t.ref for t in a.tools if t.state == "ungoverned")
            ),
            Column("Governing policies", lambda a: _joined(sorted({p for t in a.tools for p in t.policies}))),
            Column("Delegates to", lambda a: _joined(a.delegates_to)),
            Column("Max delegation depth", lambda a: a.max_delegation_depth),
            Column("Network reach", lambda a: _joined(a.network_reach)),
            Column("Created (UTC)", lambda a: a.created_at),
            Column("Last reviewed (UTC)", lambda a: a.last_reviewed_at),
            Column("Review interval (days)", lambda a: a.review_interval_days),
            Column("Open findings", lambda a: a.open_findings),
            Column("Purpose", lambda a: a.purpose, is_wide=True),
        ],
        r.agents,
    )
    _sheet(
        wb,
        "MCP servers and tools",
        [
            Column("Server id", lambda s: s.server_id),
            Column("Server name", lambda s: s.server_name),
            Column("Owner", lambda s: s.owner),
            Column("Transport", lambda s: s.transport),
            Column("URL", lambda s: s.url),
            Column("Command", lambda s: s.command),
            Column("Package", lambda s: s.package),
            Column("Version", lambda s: s.version),
            Column("Auth", lambda s: s.auth),
            Column("Audience validated", lambda s: s.is_audience_validated),
            Column("Token passthrough", lambda s: s.has_token_passthrough),
            Column("Gateway", lambda s: s.gateway),
            Column("Tool", lambda s: s.tool_ref),
            Column("Tool name", lambda s: s.tool_name),
            Column("Sensitivity", lambda s: s.sensitivity),
            Column("Sensitive", lambda s: s.is_sensitive),
            Column("Annotations", lambda s: s.annotations),
            Column("Data classes", lambda s: _joined(s.data_classes)),
            Column("Reached by agents", lambda s: _joined(s.agents)),
            Column("Tool description", lambda s: s.tool_description, is_wide=True),
        ],
        r.servers,
    )
    _sheet(
        wb,
        "Credentials",
        [
            Column("Credential id", lambda c: c.id),
            Column("Kind", lambda c: c.kind),
            Column("Issuer", lambda c: c.issuer),
            Column("Audience", lambda c: c.audience),
            Column("Scopes", lambda c: _joined(c.scopes)),
            Column("TTL (seconds)", lambda c: c.ttl_seconds),
            Column("Expires (UTC)", lambda c: c.expires_at),
            Column("Last rotated (UTC)", lambda c: c.last_rotated_at),
            Column("Revoked (UTC)", lambda c: c.revoked_at),
            Column("Rotation interval (days)", lambda c: c.rotation_interval_days),
            Column("Storage", lambda c: c.storage),
            Column("Fingerprint", lambda c: c.fingerprint),
            Column("Held by", lambda c: _joined(c.holders)),
        ],
        r.credentials,
    )
    _sheet(
        wb,
        "Policies",
        [
            Column("Policy id", lambda p: p.id),
            Column("Owner", lambda p: p.owner),
            Column("Engine", lambda p: p.engine),
            Column("Evaluation", lambda p: p.evaluation),
            Column("Effect", lambda p: p.effect),
            Column("Subjects", lambda p: _joined(p.subjects)),
            Column("Tools", lambda p: _joined(p.tools)),
            Column("Requires approval", lambda p: p.requires_approval),
            Column("Approvers", lambda p: _joined(p.approvers)),
            Column("Intents", lambda p: _joined(p.intents)),
            Column("Max chain depth", lambda p: p.max_chain_depth),
            Column("JIT credential TTL (seconds)", lambda p: p.jit_credential_ttl_seconds),
            Column("Rate limit per minute", lambda p: p.rate_limit_per_minute),
            Column("Last reviewed (UTC)", lambda p: p.last_reviewed_at),
            Column("Review interval (days)", lambda p: p.review_interval_days),
            Column("Description", lambda p: p.description, is_wide=True),
        ],
        r.policies,
    )
    o = {name: itemgetter(index) for index, name in enumerate(OUTCOME_FIELDS)}  # the rows are tuples
    _sheet(
        wb,
        EVIDENCE_SHEET,
        [
            Column("Check id", o["check_id"]),
            Column("Check", o["check_title"]),
            Column("Severity", o["severity"]),
            Column("Subject kind", o["subject_kind"]),
            Column("Subject id", o["subject_id"]),
            Column("Agent", o["agent_id"]),
            Column("Team", o["team"]),
            Column("Environment", o["environment"]),
            Column("Outcome", o["outcome"]),
            Column("Finding id", o["finding_id"]),
            Column("Finding status", o["finding_status"]),
            Column("Risk accepted", o["is_excepted"]),
            Column("Requirements", lambda row, get=o["requirements"]: _joined(get(row))),
            Column("Detail", o["detail"], is_wide=True),
        ],
        r.outcomes.values(),
        note=r.outcomes_note,
    )
    _metrics(wb, r)


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _metrics(wb: XlsxWriter, r: ReportContext) -> None:
    """The finding metrics as one long table (measure, grouping, group), and every regression."""
    m = r.metrics
    rows: list[tuple] = []
    if m is not None:
        for by, ages in (("all", (m.open,)), ("severity", m.open_by_severity), ("team", m.open_by_team)):
            rows += [("Days open", by, a.label, a.count, a.mean_days, a.oldest_days, a.bands) for a in ages]
        for measure, groups in (
            (
                "Time to remediate",
                (
                    ("all", (m.remediation,)),
                    ("framework", m.remediation_by_framework),
                    ("severity", m.remediation_by_severity),
                    ("team", m.remediation_by_team),
                ),
            ),
            (
                "Time clean before a regression",
                (
                    ("all", (m.regressions,)),
                    ("severity", m.regressions_by_severity),
                    ("team", m.regressions_by_team),
                ),
            ),
        ):
            for by, durations in groups:
                rows += [(measure, by, d.label, d.count, d.mean_days, None, ()) for d in durations]
    labels = m.band_labels if m is not None else ()
    _sheet(
        wb,
        "Metrics",
        [
            Column("Measure", lambda x: x[0]),
            Column("By", lambda x: x[1]),
            Column("Group", lambda x: x[2]),
            Column("Findings", lambda x: x[3]),
            Column("Mean (days)", lambda x: _days(x[4])),
            Column("Oldest (days)", lambda x: _days(x[5])),
            *(
                Column(f"Open {label}", lambda x, i=i: x[6][i] if x[6] else None)
                for i, label in enumerate(labels)
            ),
        ],
        rows,
        note=r.metrics_note or None,
    )
    _sheet(
        wb,
        "Regressions",
        [
            Column("Finding id", lambda g: g.finding_id),
            Column("Severity", lambda g: g.severity),
            Column("Check id", lambda g: g.check_id),
            Column("Subject kind", lambda g: g.subject_kind),
            Column("Subject id", lambda g: g.subject_id),
            Column("Team", lambda g: g.team),
            Column("Status now", lambda g: g.status),
            Column("Resolved (UTC)", lambda g: g.resolved_at),
            Column("Reopened (UTC)", lambda g: g.reopened_at),
            Column("Stayed clean (days)", lambda g: _days(g.clean_days)),
        ],
        m.recent_regressions if m is not None else (),
        note="Each time a finding failed again after being resolved, newest first.",
    )


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _summary(wb: XlsxWriter, r: ReportContext) -> None:
    statuses = [s for s, _, _ in STATUS_MEANINGS]
    columns = ["Framework id", "Framework", "Publisher", "Version", "Score (%)", "Requirements"]
    columns += [STATUS_LABELS[s] for s in statuses]
    widths = [22, 44, 28, 12, 11, 14] + [max(MIN_WIDTH, len(STATUS_LABELS[s]) + 2) for s in statuses]
    with wb.sheet("Summary", widths=widths, freeze_rows=1) as ws:
        ws.append(columns, [wb.style(HEADER)] * len(columns))
        for f in r.frameworks:
            values = [f.id, f.name, f.publisher, f.version, f.score, len(f.requirements)]
            ws.append(values + [f.counts.get(s, 0) for s in statuses])
        ws.autofilter(1, 1 + max(len(r.frameworks), 1), len(columns))
        ws.append([])
        facts = [
            ("Organisation", r.organisation),
            ("Scope", r.scope_text),
            ("Period start (UTC)", r.period_start),
            ("Period end (UTC)", r.period_end),
            ("Generated at (UTC)", r.generated_at),
            ("Evaluation run", r.run_id),
            ("Run started (UTC)", r.run_started_at),
            ("Catalog hash (SHA-256)", r.catalog_hash),
            ("Catalog first used by run", r.catalog_first_run_id),
            ("Catalog changes from the one before", "; ".join(c.text for c in r.catalog_changes) or "none"),
            ("Open findings in scope", sum(r.open_by_severity.values())),
            ("Open findings with an accepted risk", r.excepted_open),
            ("Evidence sheet", r.outcomes_note),
        ]
        label = wb.style(LABEL)
        for name, value in facts:
            ws.append([name, value], [label, None])
