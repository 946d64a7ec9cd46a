"""The `steward` command group (the same commands are available as `flask --app app …`)."""

from __future__ import annotations

import csv
import getpass
import json
import secrets
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
from app.db import get_engine, make_engine, session_scope, upgrade_database
from app.evaluation import EvaluationSummary, plan_findings, run_evaluation
from app.inventory import ImportResult, import_inventory
from app.inventory.export import export_inventory
from app.inventory.schema import KINDS
from app.inventory.store import load_inventory
from app.mcp_cli import mcp_server_command
from app.models.assessment import EvaluationRun
from app.reminders_cli import reminders_command
from app.reporting.oscal_cli import oscal_command
from app.reporting.pack_cli import evidence_pack_command, verify_pack_command
from app.security import AccountError, create_api_token, create_user, set_demo_admin
from app.snapshot import Inventory

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
    _print_changes(result.changes)
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


def _print_changes(changes) -> None:
    click.echo(f"  {'kind':<13}{'created':>9}{'updated':>9}{'removed':>9}{'unchanged':>11}")
    for kind in KINDS:
        c = changes[kind].counts()
        click.echo(f"  {kind:<13}{c['created']:>9}{c['updated']:>9}{c['removed']:>9}{c['unchanged']:>11}")


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
    _catalog()  # an import triggers an evaluation: refuse before writing if the catalog cannot load
    _import_outcome(run_import(list(paths), prune=prune, dry_run=dry_run), dry_run=dry_run)


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


@click.command("demo", help="Import the demo organisation in seed/, evaluate it, and serve the dashboard.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Import and evaluate only; do not start the web server.")
@with_appcontext
def demo_command(host: str, port: int, no_serve: bool) -> None:
    from app.demo import import_demo_organisation

    _catalog()
    with session_scope(get_engine(current_app)) as session:
        demo = import_demo_organisation(session, actor=_actor(), settings=_settings())
        if not demo.ok:
            session.rollback()
    if not demo.inventory.ok:
        _print_result(demo.inventory)
        sys.exit(2)
    click.echo(
        f"Demo organisation loaded from {len(demo.inventory.files)} inventory files and its people's clients."
    )
    _print_changes(demo.net_changes())
    for agent_id, found in demo.discoveries.items():
        servers = len(found.servers)
        secrets_found = sum(len(s.secrets) for s in found.servers)
        click.echo(
            f"Discovered {servers} MCP servers ({secrets_found} plaintext secrets) in {agent_id}'s client."
        )
        if not found.result.ok:
            _print_result(found.result)
    if not demo.ok:
        sys.exit(2)
    _print_audit_import(demo.audit)
    with session_scope(get_engine(current_app)) as session:
        after = load_inventory(session)
    click.echo("\nInventory")
    click.echo(format_summary(after))
    click.echo("")
    _print_evaluation(evaluate_now("demo"))
    _print_status()
    password = secrets.token_urlsafe(12)
    with session_scope(get_engine(current_app)) as session:
        set_demo_admin(session, username="admin", password=password)
    if no_serve:
        return
    click.echo(f"\nSteward is serving the demo organisation at http://{host}:{port}/")
    click.echo(
        f"Sign in as admin with the password {password} (a new one is made each time the demo starts)."
    )
    serve_app(current_app._get_current_object(), host=host, port=port, with_scheduler=True)


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
    for mapping_set in catalog.mapping_sets.values():
        click.echo(
            f"  mappings {mapping_set.id}: {len(mapping_set.mappings)} from {mapping_set.source_framework} "
            f"to {mapping_set.target_framework} "
            f"(version {mapping_set.version}, retrieved {mapping_set.retrieved})"
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


def serve_app(app, *, host: str, port: int, with_scheduler: bool, threads: int = 8) -> None:
    """Serve the app with waitress; a single process also runs the scheduler in the background."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from waitress import serve

    from app.jobs import configure_scheduler

    scheduler = None
    if with_scheduler:
        scheduler = configure_scheduler(
            BackgroundScheduler(timezone="UTC"), get_engine(app), app.config["STEWARD"]
        )
        scheduler.start()
    try:
        serve(app, host=host, port=port, threads=threads, ident="Steward")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@click.command("serve", help="Serve the dashboard and API (and, in this single process, the scheduler).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Leave scheduled jobs to a separate `steward scheduler`.")
@with_appcontext
def serve_command(host: str, port: int, no_scheduler: bool) -> None:
    _catalog()
    click.echo(f"Steward is serving at http://{host}:{port}/")
    serve_app(current_app._get_current_object(), host=host, port=port, with_scheduler=not no_scheduler)


user_group = AppGroup("user", help="Manage local user accounts.")


@user_group.command("create", help="Create a user; the password is asked for (or read from stdin).")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["viewer", "analyst", "admin"]), default="viewer", show_default=True
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(username: str, role: str, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(get_engine(current_app)) as session:
            create_user(session, username=username, password=password, role=role, actor=_actor())
    except AccountError as exc:
        click.echo(f"steward user create: {exc}; nothing was created.", err=True)
        sys.exit(2)
    click.echo(f"User {username} created with role {role}.")


token_group = AppGroup("token", help="Manage API tokens.")


@token_group.command("create", help="Create an API token; it is printed once and stored only as a hash.")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["viewer", "analyst", "admin"]), default="viewer", show_default=True
)
@click.option(
    "--expires", required=True, help="When the token stops working (ISO date, at most a year away)."
)
def token_create(name: str, role: str, expires: str) -> None:
    expires_at = _parse_date(expires, "--expires")
    try:
        with session_scope(get_engine(current_app)) as session:
            token, record = create_api_token(
                session, name=name, role=role, expires_at=expires_at, created_by=_actor()
            )
    except AccountError as exc:
        click.echo(f"steward token create: {exc}; nothing was created.", err=True)
        sys.exit(2)
    click.echo(
        f"Token {record.prefix}… ({role}, expires {expires_at:%Y-%m-%d}). Copy it now; it is not shown again:"
    )
    click.echo(token)


def _scope_options(function):
    """The --framework/--environment/--team options that scope a report (each may repeat)."""
    for option in (
        click.option("--team", "teams", multiple=True, help="Only agents of this team (repeatable)."),
        click.option(
            "--environment",
            "environments",
            multiple=True,
            help="Only agents in this environment (repeatable).",
        ),
        click.option("--framework", "frameworks", multiple=True, help="Only this framework (repeatable)."),
    ):
        function = option(function)
    return function


@click.command(
    "report", help="Generate an evidence report (PDF or Excel) into the archive, and copy it to --out."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["pdf", "xlsx"]),
    required=True,
    help="pdf or xlsx.",
)
@_scope_options
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report to this file."
)
@click.option("--template", help="A custom PDF template uploaded on the Reports page (default: built-in).")
@with_appcontext
def report_command(formats, frameworks, environments, teams, out, template) -> None:
    import shutil

    from app.reporting.archive import generate_report, report_path
    from app.reporting.context import ReportError, Scope
    from app.reporting.custom_templates import resolve_template

    if out and len(set(formats)) > 1:
        raise click.BadParameter("give one --format with --out", param_hint="--out")
    catalog = _catalog()
    scope = Scope(frameworks=tuple(frameworks), environments=tuple(environments), teams=tuple(teams))
    try:
        pdf_template = resolve_template(_settings(), template)
        with session_scope(get_engine(current_app)) as session:
            generated = generate_report(
                session,
                catalog=catalog,
                settings=_settings(),
                scope=scope,
                formats=formats,
                made_by=_actor(),
                pdf_template=pdf_template,
            )
    except ReportError as exc:
        click.echo(f"steward report: {exc}; nothing was made.", err=True)
        sys.exit(2)
    for report in generated.reports:
        path = report_path(_settings(), report)
        click.echo(
            f"Report #{report.id} ({report.format}, {report.size_bytes:,} bytes) from evaluation "
            f"#{report.run_id}: {path}\n  sha256 {report.sha256}"
        )
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            click.echo(f"  copied to {out}")


@click.command("reports", help="List the report archive, newest first.")
@click.option("--limit", default=50, show_default=True, type=int)
@with_appcontext
def reports_command(limit: int) -> None:
    from app.reporting.archive import list_reports, report_path
    from app.reporting.context import Scope

    with session_scope(get_engine(current_app)) as session:
        rows = list_reports(session, limit=limit)
    if not rows:
        click.echo("The archive is empty: make a report with `steward report --format pdf`.")
        return
    for report in rows:
        click.echo(
            f"#{report.id:<5} {report.created_at:%Y-%m-%d %H:%M} {report.format:<4} "
            f"{report.size_bytes:>10,} B  run #{report.run_id}  sha256 {report.sha256[:16]}  "
            f"by {report.made_by}"
        )
        click.echo(
            f"       scope: {Scope.from_json(report.scope).describe()}  "
            f"file: {report_path(_settings(), report)}"
        )


schedule_group = AppGroup("schedule", help="Manage scheduled reports (run by `steward scheduler`).")


def _schedule_options(function, *, is_edit: bool):
    presets = click.Choice(["quarterly", "monthly", "weekly", "cron"])
    options = [
        click.option("--recipient", "recipients", multiple=True, help="E-mail the reports to this address."),
        click.option(
            "--keep", "retention", type=int, help="How many reports of each format to keep (default 8)."
        ),
        click.option(
            "--format", "formats", multiple=True, type=click.Choice(["pdf", "xlsx"]), help="Repeatable."
        ),
        click.option("--timezone", help="IANA time zone of the schedule, e.g. Europe/Berlin (default UTC)."),
        click.option("--cron", help="A five-field cron expression (with --preset cron)."),
        click.option("--preset", type=presets, required=not is_edit, help="When the schedule fires."),
        click.option(
            "--template",
            "pdf_template",
            help="An uploaded PDF template (its name or slug) for the PDF; 'built-in' for the built-in.",
        ),
    ]
    if is_edit:
        options.append(click.option("--name", help="A new name."))
    for option in options:
        function = option(function)
    return _scope_options(function)


def _schedule_add_options(function):
    return _schedule_options(function, is_edit=False)


def _schedule_edit_options(function):
    return _schedule_options(function, is_edit=True)


def _print_schedule(schedule) -> None:
    from app.reporting.context import Scope
    from app.reporting.schedules import describe_when, next_run_times

    state = "paused" if schedule.is_paused else "active"
    upcoming = next_run_times(schedule, after=datetime.now(UTC))
    nxt = f"next {upcoming[0]:%Y-%m-%d %H:%M %Z}" if upcoming else "no next run"
    click.echo(f"#{schedule.id:<4} {schedule.name} [{state}] {describe_when(schedule)}; {nxt}")
    click.echo(
        f"      scope: {Scope.from_json(schedule.scope).describe()}; formats {', '.join(schedule.formats)}; "
        f"keep {schedule.retention}; recipients {', '.join(schedule.recipients) or 'none'}"
        + (f"; PDF template {schedule.pdf_template}" if schedule.pdf_template else "")
    )
    if schedule.last_run_at:
        click.echo(f"      last run {schedule.last_run_at:%Y-%m-%d %H:%M} UTC: {schedule.last_status}")


def _schedule_failed(verb: str, exc: Exception) -> None:
    click.echo(f"steward schedule {verb}: {exc}; nothing was changed.", err=True)
    sys.exit(2)


@schedule_group.command("add", help="Add a report schedule.")
@click.argument("name")
@_schedule_add_options
def schedule_add(
    name,
    preset,
    cron,
    timezone,
    formats,
    retention,
    recipients,
    frameworks,
    environments,
    teams,
    pdf_template,
):
    from app.reporting.context import Scope
    from app.reporting.schedules import ScheduleError, create_schedule

    catalog = _catalog()
    try:
        with session_scope(get_engine(current_app)) as session:
            schedule = create_schedule(
                session,
                catalog=catalog,
                actor=_actor(),
                name=name,
                preset=preset,
                cron=cron,
                timezone=timezone or "UTC",
                scope=Scope(
                    frameworks=tuple(frameworks), environments=tuple(environments), teams=tuple(teams)
                ),
                formats=formats or ("pdf", "xlsx"),
                retention=8 if retention is None else retention,
                recipients=recipients,
                pdf_template=pdf_template,
                settings=_settings(),
            )
    except ScheduleError as exc:
        _schedule_failed("add", exc)
    click.echo("Schedule added; `steward scheduler` picks it up within a minute.")
    _print_schedule(schedule)


@schedule_group.command("list", help="List report schedules with their next run.")
def schedule_list() -> None:
    from app.models.reporting import ReportSchedule

    with session_scope(get_engine(current_app)) as session:
        rows = session.execute(select(ReportSchedule).order_by(ReportSchedule.id)).scalars().all()
    if not rows:
        click.echo("No report schedules: add one with `steward schedule add NAME --preset quarterly`.")
    for schedule in rows:
        _print_schedule(schedule)


@schedule_group.command("edit", help="Change a report schedule; options not given stay as they are.")
@click.argument("schedule_id", type=int)
@_schedule_edit_options
def schedule_edit(
    schedule_id,
    name,
    preset,
    cron,
    timezone,
    formats,
    retention,
    recipients,
    frameworks,
    environments,
    teams,
    pdf_template,
):
    from app.models.reporting import ReportSchedule
    from app.reporting.schedules import ScheduleError, update_schedule

    catalog = _catalog()
    changes = {"name": name, "preset": preset, "cron": cron, "timezone": timezone, "retention": retention}
    if pdf_template is not None:
        changes["pdf_template"] = pdf_template  # "built-in" goes back to the built-in
    if formats:
        changes["formats"] = list(formats)
    if recipients:
        changes["recipients"] = list(recipients)
    try:
        with session_scope(get_engine(current_app)) as session:
            if frameworks or environments or teams:
                current = session.get(ReportSchedule, schedule_id)
                scope = dict(current.scope) if current else {}
                for key, values in (
                    ("frameworks", frameworks),
                    ("environments", environments),
                    ("teams", teams),
                ):
                    if values:
                        scope[key] = list(values)
                changes["scope"] = scope
            schedule = update_schedule(
                session,
                catalog=catalog,
                schedule_id=schedule_id,
                actor=_actor(),
                settings=_settings(),
                **changes,
            )
    except ScheduleError as exc:
        _schedule_failed("edit", exc)
    _print_schedule(schedule)


def _set_paused(schedule_id: int, is_paused: bool, verb: str) -> None:
    from app.reporting.schedules import ScheduleError, set_schedule_paused

    try:
        with session_scope(get_engine(current_app)) as session:
            schedule = set_schedule_paused(
                session, schedule_id=schedule_id, is_paused=is_paused, actor=_actor()
            )
    except ScheduleError as exc:
        _schedule_failed(verb, exc)
    _print_schedule(schedule)


@schedule_group.command("pause", help="Pause a report schedule (runs due while paused are skipped).")
@click.argument("schedule_id", type=int)
def schedule_pause(schedule_id: int) -> None:
    _set_paused(schedule_id, True, "pause")


@schedule_group.command("resume", help="Resume a paused report schedule.")
@click.argument("schedule_id", type=int)
def schedule_resume(schedule_id: int) -> None:
    _set_paused(schedule_id, False, "resume")


@schedule_group.command("delete", help="Delete a report schedule (its reports stay in the archive).")
@click.argument("schedule_id", type=int)
def schedule_delete(schedule_id: int) -> None:
    from app.reporting.schedules import ScheduleError, delete_schedule

    try:
        with session_scope(get_engine(current_app)) as session:
            delete_schedule(session, schedule_id=schedule_id, actor=_actor())
    except ScheduleError as exc:
        _schedule_failed("delete", exc)
    click.echo(f"Schedule #{schedule_id} deleted; its reports stay in the archive.")


def _import_outcome(result: ImportResult, *, dry_run: bool) -> None:
    """Print an import's result; evaluate after a change, exit 2 after errors."""
    _print_result(result)
    if result.errors:
        sys.exit(2)
    if dry_run:
        _print_plan(result)
    elif result.has_changes:
        _print_evaluation(evaluate_now("import"))


@click.command(
    "discover", help="Inventory the MCP servers configured in MCP client config files or directories."
)
@with_appcontext
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--agent", "agent_id", help="The agent (a client on a person's machine) these configs belong to."
)
@click.option("--owner", help="Owner of the agent, when discovery creates it.")
@click.option(
    "--environment",
    type=click.Choice(["production", "staging", "development"]),
    default="development",
    show_default=True,
    help="Environment of the agent, when discovery creates it.",
)
@click.option("--prune", is_flag=True, help="Remove servers these files used to configure but no longer do.")
@click.option("--dry-run", is_flag=True, help="Show what would be inventoried, without writing.")
def discover_command(paths, agent_id, owner, environment, prune, dry_run) -> None:
    from app.inventory.discovery import AgentSpec, discover

    _catalog()
    agent = AgentSpec(agent_id, owner=owner, environment=environment) if agent_id else None
    with session_scope(get_engine(current_app)) as session:
        outcome = discover(
            session,
            paths=list(paths),
            actor=_actor(),
            agent=agent,
            prune=prune,
            dry_run=dry_run,
            max_bytes=_settings().max_import_bytes,
        )
    for scan in outcome.scans:
        if scan.problem:
            click.echo(f"{scan.file}: {scan.problem}")
            continue
        secrets_found = sum(len(s.secrets) for s in scan.servers)
        click.echo(
            f"{scan.file}: {scan.client or 'MCP client'} config, {len(scan.servers)} "
            f"server{'s' if len(scan.servers) != 1 else ''}"
            + (
                f", {secrets_found} literal secret{'s' if secrets_found != 1 else ''}"
                if secrets_found
                else ""
            )
        )
        for server in scan.servers:
            where = server.url or " ".join([server.command or "", *server.args]).strip()
            flags = [
                f"{len(server.secrets)} plaintext secret(s): {', '.join(x.location for x in server.secrets)}"
            ]
            flags = flags if server.secrets else []
            if server.package and not server.is_pinned:
                flags.append(f"unpinned {server.package}@{server.version or '(no version)'}")
            if server.auto_approved_tools:
                flags.append(f"auto-approves {', '.join(server.auto_approved_tools)}")
            if not server.is_enabled:
                flags.append("disabled")
            click.echo(f"  - {server.name} [{server.transport}] {where}" + "".join(f"; {f}" for f in flags))
    if not outcome.servers:
        click.echo("No MCP servers found.")
    _import_outcome(outcome.result, dry_run=dry_run)


@click.command(
    "import-tools", help="Import tool definitions (tools/list results) or registry server.json files."
)
@with_appcontext
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--server", "server_id", help="The inventoried MCP server the tools belong to.")
@click.option("--prune", is_flag=True, help="Remove the server's tools that the files no longer list.")
@click.option("--dry-run", is_flag=True, help="Validate and show what would change, without writing.")
def import_tools_command(paths, server_id, prune, dry_run) -> None:
    from app.inventory.tool_definitions import import_definitions

    _catalog()
    with session_scope(get_engine(current_app)) as session:
        result = import_definitions(
            session,
            paths=list(paths),
            actor=_actor(),
            server_id=server_id,
            prune=prune,
            dry_run=dry_run,
            max_bytes=_settings().max_import_bytes,
        )
    _import_outcome(result, dry_run=dry_run)


@click.command("review-tools", help="Record that you reviewed the current definitions of a server's tools.")
@with_appcontext
@click.argument("server_id")
@click.argument("tools", nargs=-1)
def review_tools_command(server_id: str, tools: tuple[str, ...]) -> None:
    from app.inventory.tool_definitions import review_tools

    _catalog()
    with session_scope(get_engine(current_app)) as session:
        result = review_tools(
            session, server_id=server_id, tool_names=list(tools), actor=_actor(), now=datetime.now(UTC)
        )
    if result.ok:
        reviewed = result.changes.get("mcp_servers")
        click.echo(f"Reviewed the tool definitions of {server_id}." if reviewed else "Nothing to review.")
    _import_outcome(result, dry_run=False)


@click.command("import-audit", help="Import a gateway audit log (JSON Lines) as runtime evidence.")
@with_appcontext
@click.argument("path", type=click.Path())
@click.option(
    "--format",
    "source_format",
    type=click.Choice(["auto", "steward", "contextforge", "agt", "xetrack"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--agent", help="The agent whose calls the log records, for formats that do not name it (xetrack)."
)
@click.option("--dry-run", is_flag=True, help="Read and count, without writing.")
def import_audit_command(path: str, source_format: str, agent: str | None, dry_run: bool) -> None:
    from app.inventory.audit_log import import_audit_log

    _catalog()
    with session_scope(get_engine(current_app)) as session:
        result = import_audit_log(
            session, path=path, actor=_actor(), source_format=source_format, agent=agent, dry_run=dry_run
        )
    _print_audit_import(result)
    if result.file_error:
        sys.exit(2)
    if result.imported and not dry_run:
        _print_evaluation(evaluate_now("audit-import"))


def _print_audit_import(result) -> None:
    if result.file_error:
        click.echo(f"steward import-audit: {result.file}: {result.file_error}; nothing imported.", err=True)
        return
    for error in result.errors:
        click.echo(f"  {result.file}:{error.line}: {error.message} (line skipped)", err=True)
    if result.bad > len(result.errors):
        click.echo(f"  ... and {result.bad - len(result.errors)} more bad lines", err=True)
    head = "Dry run, nothing written." if result.is_dry_run else f"Audit import #{result.record_id} applied."
    span = (
        f" from {result.first_at:%Y-%m-%d %H:%M} to {result.last_at:%Y-%m-%d %H:%M} UTC"
        if result.first_at
        else ""
    )
    click.echo(
        f"{head} {result.lines_read} lines read: {result.imported} new events, "
        f"{result.duplicates} already known, {result.bad} bad lines skipped{span}."
    )


COMMANDS = (
    db_group,
    token_group,
    serve_command,
    user_group,
    scheduler_command,
    catalog_group,
    import_command,
    discover_command,
    import_tools_command,
    review_tools_command,
    import_audit_command,
    inventory_command,
    export_inventory_command,
    demo_command,
    evaluate_command,
    status_command,
    findings_command,
    accept_risk_command,
    attest_command,
    report_command,
    reports_command,
    schedule_group,
    evidence_pack_command,
    verify_pack_command,
    oscal_command,
    mcp_server_command,
    reminders_command,
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
