"""The `steward` command group (the same commands are available as `flask --app app …`)."""

from __future__ import annotations

import csv
import getpass
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select

from app.assessment import DecisionError, FindingFilter, accept_risk, attest_requirement, list_findings
from app.catalog import SEVERITIES, Catalog, CatalogError, get_catalog, load_catalog
from app.config import PROJECT_ROOT
from app.db import get_engine, make_engine, session_scope, upgrade_database
from app.evaluation import EvaluationSummary, plan_findings, run_evaluation
from app.inventory import ImportResult, import_inventory
from app.inventory.export import export_inventory
from app.inventory.schema import KINDS
from app.inventory.store import load_inventory
from app.models.assessment import EvaluationRun
from app.snapshot import Inventory

SEED_DIR = PROJECT_ROOT / "seed"

db_group = AppGroup("db", help="Manage the database schema.")


def _settings():
    return current_app.config["STEWARD"]


def _actor() -> str:
    settings = _settings()
    if settings.actor:
        return settings.actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@db_group.command("upgrade", help="Bring the database schema to the newest migration.")
def db_upgrade() -> None:
    engine = make_engine(_settings().resolved_database_url)
    upgrade_database(engine)
    click.echo("Database schema is up to date.")


def _print_result(result: ImportResult) -> None:
    for notice in result.notices:
        click.echo(f"note: {notice}", err=True)
    if result.errors:
        count = len(result.errors)
        click.echo(
            f"steward import: {count} error{'s' if count != 1 else ''}; nothing was imported.", err=True
        )
        for error in result.errors:
            click.echo(f"  {error}", err=True)
        return
    head = "Dry run, nothing written." if result.is_dry_run else f"Import #{result.record_id} applied."
    click.echo(f"{head} {len(result.files)} file{'s' if len(result.files) != 1 else ''} read.")
    click.echo(f"  {'kind':<13}{'created':>9}{'updated':>9}{'removed':>9}{'unchanged':>11}")
    for kind in KINDS:
        c = result.changes[kind].counts()
        click.echo(f"  {kind:<13}{c['created']:>9}{c['updated']:>9}{c['removed']:>9}{c['unchanged']:>11}")
    if result.is_dry_run:
        for kind in KINDS:
            changes = result.changes[kind]
            for verb, ids in (
                ("create", changes.created),
                ("update", changes.updated),
                ("remove", changes.removed),
            ):
                if ids:
                    click.echo(f"  would {verb} {kind}: {', '.join(ids)}")


def _catalog() -> Catalog:
    try:
        return get_catalog(current_app)
    except CatalogError as exc:
        _print_catalog_problems(exc)
        sys.exit(2)


def _print_catalog_problems(exc: CatalogError) -> None:
    count = len(exc.problems)
    click.echo(f"steward: the control catalog has {count} problem{'s' if count != 1 else ''}:", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)


def evaluate_now(trigger: str) -> EvaluationSummary:
    """Run an evaluation with the app's catalog and settings, in its own transaction."""
    catalog = _catalog()
    with session_scope(get_engine(current_app)) as session:
        return run_evaluation(session, catalog=catalog, settings=_settings(), trigger=trigger, actor=_actor())


def _print_evaluation(summary: EvaluationSummary) -> None:
    run = summary.run
    click.echo(
        f"Evaluation #{run.id}: {run.counts['outcomes']} outcomes from {run.counts['checks']} checks in "
        f"{run.duration_ms} ms; findings opened {summary.opened}, resolved {summary.resolved}, "
        f"reopened {summary.reopened}; {summary.open_total} open."
    )
    for check_id, error in sorted(run.check_errors.items()):
        click.echo(f"  check {check_id} crashed and was skipped: {error}", err=True)


def run_import(paths: list[str], *, prune: bool, dry_run: bool) -> ImportResult:
    """Import paths with the app's settings, in one transaction."""
    settings = _settings()
    with session_scope(get_engine(current_app)) as session:
        return import_inventory(
            session,
            paths=paths,
            actor=_actor(),
            prune=prune,
            dry_run=dry_run,
            max_bytes=settings.max_import_bytes,
            max_alias_expansion=settings.yaml_max_alias_expansion,
        )


@click.command("import", help="Import inventory YAML/JSON files or directories (upsert by id).")
@with_appcontext
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--prune", is_flag=True, help="Remove entries of the imported kinds that the files no longer hold."
)
@click.option("--dry-run", is_flag=True, help="Validate and show what would change, without writing.")
def import_command(paths: tuple[str, ...], prune: bool, dry_run: bool) -> None:
    result = run_import(list(paths), prune=prune, dry_run=dry_run)
    _print_result(result)
    if result.errors:
        sys.exit(2)
    if dry_run:
        _print_plan(result)
    elif result.has_changes:
        _print_evaluation(evaluate_now("import"))


def _print_plan(result: ImportResult) -> None:
    catalog = _catalog()
    with session_scope(get_engine(current_app)) as session:
        would_open, would_resolve = plan_findings(
            session, catalog=catalog, settings=_settings(), before=result.before, after=result.after
        )
    click.echo(f"Findings this change would open: {len(would_open)}; resolve: {len(would_resolve)}.")
    for (check_id, _kind, subject_id), outcome in would_open:
        click.echo(f"  + [{catalog.checks[check_id].severity}] {check_id} {subject_id}: {outcome.detail}")
    for check_id, _kind, subject_id in would_resolve:
        click.echo(f"  - {check_id} {subject_id}")


def _counts(values) -> str:
    return " · ".join(f"{k} {n}" for k, n in sorted(Counter(values).items()))


def format_summary(inventory: Inventory) -> str:
    """A few lines that say what the inventory holds."""
    tools = [t for s in inventory.mcp_servers for t in s.tools]
    lines = [
        f"  agents       {len(inventory.agents):>6}   "
        f"by environment: {_counts(a.environment for a in inventory.agents)}",
        f"  {'':<19}by status: {_counts(a.status for a in inventory.agents)}",
        f"  {'':<19}by autonomy: {_counts(a.autonomy for a in inventory.agents)}",
        f"  mcp_servers  {len(inventory.mcp_servers):>6}   by transport: "
        f"{_counts(s.transport for s in inventory.mcp_servers)}",
        f"  tools        {len(tools):>6}   sensitive: {sum(t.is_sensitive for t in tools)}",
        f"  credentials  {len(inventory.credentials):>6}   by storage: "
        f"{_counts(c.storage for c in inventory.credentials)}",
        f"  policies     {len(inventory.policies):>6}   by evaluation: "
        f"{_counts(p.evaluation for p in inventory.policies)}",
        f"  approvals    {len(inventory.approvals):>6}",
    ]
    return "\n".join(lines)


@click.command("inventory", help="Print a summary of the inventory.")
@with_appcontext
def inventory_command() -> None:
    with session_scope(get_engine(current_app)) as session:
        inventory = load_inventory(session)
    click.echo("Inventory")
    click.echo(format_summary(inventory))


@click.command("export-inventory", help="Write the whole inventory as YAML files (one per kind) into DIR.")
@with_appcontext
@click.argument("directory", type=click.Path(file_okay=False))
def export_inventory_command(directory: str) -> None:
    with session_scope(get_engine(current_app)) as session:
        inventory = load_inventory(session)
    for path in export_inventory(inventory, Path(directory)):
        click.echo(f"wrote {path}")


@click.command("demo", help="Import the demo organisation in seed/ and show what Steward makes of it.")
@with_appcontext
def demo_command() -> None:
    result = run_import([str(SEED_DIR)], prune=True, dry_run=False)
    _print_result(result)
    if result.errors:
        sys.exit(2)
    click.echo("\nInventory")
    click.echo(format_summary(result.after))
    click.echo("")
    _print_evaluation(evaluate_now("demo"))
    _print_status()


catalog_group = AppGroup("catalog", help="Inspect the control catalog.")


@catalog_group.command("validate", help="Load and validate every framework and check; exit 2 on any problem.")
def catalog_validate() -> None:
    try:
        catalog = load_catalog(_settings().controls_dirs)
    except CatalogError as exc:
        _print_catalog_problems(exc)
        sys.exit(2)
    click.echo(
        f"Catalog OK: {len(catalog.checks)} checks, {len(catalog.frameworks)} frameworks, "
        f"sha256 {catalog.hash[:16]}"
    )
    for framework in catalog.frameworks.values():
        manual = sum(r.is_manual for r in framework.requirements)
        ids = "" if framework.official_ids else "  (ids are Steward's, not the publisher's)"
        click.echo(
            f"  {framework.id:<22} {len(framework.requirements):>3} requirements "
            f"({len(framework.requirements) - manual} automated, {manual} manual){ids}"
        )


@click.command("evaluate", help="Evaluate the inventory against every framework now.")
@with_appcontext
def evaluate_command() -> None:
    _print_evaluation(evaluate_now("cli"))
    _print_status()


def _latest_run(session) -> EvaluationRun | None:
    return session.exec(select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(1)).scalars().first()


def _print_status() -> None:
    catalog = _catalog()
    with session_scope(get_engine(current_app)) as session:
        run = _latest_run(session)
    if run is None:
        click.echo("No evaluation has run yet: run `steward evaluate`.")
        return
    click.echo(
        f"Status as of evaluation #{run.id} ({run.started_at:%Y-%m-%d %H:%M} UTC, "
        f"catalog {run.catalog_hash[:12]})"
    )
    for framework_id, statuses in run.requirement_statuses.items():
        framework = catalog.frameworks.get(framework_id)
        name = framework.name if framework else framework_id
        score = run.scores.get(framework_id)
        shown = "  n/a" if score is None else f"{score:5.1f}%"
        counts = Counter(statuses.values())
        parts = " · ".join(f"{status} {counts[status]}" for status in sorted(counts))
        click.echo(f"  {shown}  {name} ({framework_id}): {parts}")


@click.command("status", help="Print each framework's score and its requirement counts by status.")
@with_appcontext
def status_command() -> None:
    _print_status()


FINDING_COLUMNS = (
    "id",
    "severity",
    "status",
    "check_id",
    "subject_kind",
    "subject_id",
    "agent_id",
    "team",
    "environment",
    "first_seen_at",
    "last_seen_at",
    "detail",
)


@click.command("findings", help="List findings (open by default) as a table, JSON or CSV.")
@click.option("--framework", help="Only findings of checks mapped in this framework.")
@click.option("--requirement", help="Only findings of checks mapped to this requirement id.")
@click.option("--severity", type=click.Choice(SEVERITIES))
@click.option("--check", "check_id", help="Only this check id.")
@click.option(
    "--agent", help="Only findings about this agent (its own, its accesses, credentials, approvals)."
)
@click.option("--team")
@click.option("--environment", type=click.Choice(["production", "staging", "development"]))
@click.option(
    "--status", default="open", type=click.Choice(["open", "resolved", "reopened", "all"]), show_default=True
)
@click.option(
    "--format", "output", default="table", type=click.Choice(["table", "json", "csv"]), show_default=True
)
@with_appcontext
def findings_command(
    framework, requirement, severity, check_id, agent, team, environment, status, output
) -> None:
    catalog = _catalog()
    if framework and framework not in catalog.frameworks:
        raise click.BadParameter(
            f"{framework!r} is not one of {', '.join(sorted(catalog.frameworks))}", param_hint="--framework"
        )
    if check_id and check_id not in catalog.checks:
        raise click.BadParameter(f"{check_id!r} is not a known check id", param_hint="--check")
    flt = FindingFilter(
        framework=framework,
        requirement=requirement,
        severity=severity,
        check=check_id,
        agent=agent,
        team=team,
        environment=environment,
        status=status,
    )
    with session_scope(get_engine(current_app)) as session:
        findings = list_findings(session, catalog, flt)
    rows = [
        {
            c: (getattr(f, c).isoformat() if isinstance(getattr(f, c), datetime) else getattr(f, c))
            for c in FINDING_COLUMNS
        }
        for f in findings
    ]
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=FINDING_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    else:
        click.echo(f"{len(rows)} finding{'s' if len(rows) != 1 else ''}")
        for row in rows:
            click.echo(f"  #{row['id']:<5} {row['severity']:<8} {row['check_id']:<46} {row['subject_id']}")
            click.echo(f"         {row['detail']}")


def _parse_date(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date such as 2027-03-31", param_hint=option
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command("accept-risk", help="Accept the risk of an open finding, with a justification and an expiry.")
@click.argument("finding_id", type=int)
@click.option("--justification", required=True, help="Why the risk is acceptable for now.")
@click.option("--expires", required=True, help="When the acceptance ends (ISO date, at most a year away).")
@click.option("--by", "accepted_by", help="Who accepts the risk (defaults to the current actor).")
@with_appcontext
def accept_risk_command(finding_id, justification, expires, accepted_by) -> None:
    expires_at = _parse_date(expires, "--expires")
    try:
        with session_scope(get_engine(current_app)) as session:
            acceptance = accept_risk(
                session,
                finding_id=finding_id,
                justification=justification,
                accepted_by=accepted_by or _actor(),
                expires_at=expires_at,
            )
    except DecisionError as exc:
        click.echo(f"steward accept-risk: {exc}; nothing was recorded.", err=True)
        sys.exit(2)
    click.echo(
        f"Risk of finding #{finding_id} accepted by {acceptance.accepted_by} until "
        f"{acceptance.expires_at:%Y-%m-%d}."
    )
    _print_evaluation(evaluate_now("exception"))


@click.command("attest", help="Attest a manual requirement with a statement, evidence and an expiry.")
@click.argument("framework_id")
@click.argument("requirement_id")
@click.option("--statement", required=True, help="What is in place.")
@click.option("--evidence-url", help="A link to the evidence.")
@click.option(
    "--evidence-file", type=click.Path(dir_okay=False, path_type=Path), help="A file to keep as evidence."
)
@click.option(
    "--expires", required=True, help="When the attestation must be renewed (ISO date, within a year)."
)
@click.option("--not-applicable", is_flag=True, help="Attest that the requirement does not apply, and why.")
@click.option("--by", "attested_by", help="Who attests (defaults to the current actor).")
@with_appcontext
def attest_command(
    framework_id, requirement_id, statement, evidence_url, evidence_file, expires, not_applicable, attested_by
) -> None:
    catalog = _catalog()
    expires_at = _parse_date(expires, "--expires")
    try:
        with session_scope(get_engine(current_app)) as session:
            attest_requirement(
                session,
                catalog=catalog,
                framework_id=framework_id,
                requirement_id=requirement_id,
                statement=statement,
                attested_by=attested_by or _actor(),
                expires_at=expires_at,
                evidence_url=evidence_url,
                evidence_file=evidence_file,
                attachments_dir=Path(_settings().instance_path) / "attachments",
                is_not_applicable=not_applicable,
            )
    except DecisionError as exc:
        click.echo(f"steward attest: {exc}; nothing was recorded.", err=True)
        sys.exit(2)
    click.echo(
        f"{framework_id} {requirement_id} attested{' as not applicable' if not_applicable else ''} "
        f"until {expires_at:%Y-%m-%d}."
    )
    _print_evaluation(evaluate_now("attestation"))


@click.command("scheduler", help="Run the scheduler process (interval evaluation, scheduled reports).")
@with_appcontext
def scheduler_command() -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from app.jobs import configure_scheduler

    _catalog()  # refuse to start on an invalid catalog
    scheduler = configure_scheduler(BlockingScheduler(timezone="UTC"), get_engine(current_app), _settings())
    for job in scheduler.get_jobs():
        click.echo(f"scheduled: {job.id} — {job.name}")
    click.echo("Scheduler running; press Ctrl-C to stop.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)


COMMANDS = (
    db_group,
    scheduler_command,
    catalog_group,
    import_command,
    inventory_command,
    export_inventory_command,
    demo_command,
    evaluate_command,
    status_command,
    findings_command,
    accept_risk_command,
    attest_command,
)


def init_app(app) -> None:
    """Register every command on the app's CLI."""
    for command in COMMANDS:
        app.cli.add_command(command)


def main() -> None:
    """Entry point of the `steward` console script."""
    from app import create_app

    group = FlaskGroup(
        create_app=create_app,
        add_default_commands=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="Steward: governance evidence for AI agents and the MCP tools they call.",
    )
    group(prog_name="steward")
