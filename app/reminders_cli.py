"""`steward reminders`: list the expiry reminders due now and, with --send, e-mail them to their owners."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import get_engine, session_scope
from app.reminders import Reminder, due_reminders, send_due_reminders


def _status(reminder: Reminder, *, is_smtp_configured: bool) -> str:
    if reminder.sent_at is not None:
        return f"e-mailed to {reminder.sent_to} {reminder.sent_at:%Y-%m-%d %H:%M} UTC"
    if reminder.email is None:
        return "dashboard only (the owner is not an e-mail address)"
    if not is_smtp_configured:
        return "not e-mailed (STEWARD_SMTP_HOST is not set)"
    return "to e-mail"


@click.command(
    "reminders", help="List exceptions and attestations due a reminder; --send e-mails their owners."
)
@click.option("--send", is_flag=True, help="E-mail each owner their reminders not sent yet (needs SMTP).")
@with_appcontext
def reminders_command(send: bool) -> None:
    # app.cli registers this command, so its helpers are imported when the command runs, not before.
    from app.cli import _actor, _catalog, _settings

    settings = _settings()
    catalog = _catalog()
    engine = get_engine(current_app)
    now = datetime.now(UTC)
    if send and not settings.smtp_host:
        click.echo("steward reminders: STEWARD_SMTP_HOST is not set, so nothing can be e-mailed.", err=True)
        sys.exit(2)
    run = (
        send_due_reminders(engine, settings=settings, catalog=catalog, now=now, actor=_actor())
        if send
        else None
    )
    with session_scope(engine) as session:
        due = due_reminders(session, now=now, catalog=catalog)
    if not due:
        click.echo("No exception or attestation is due a reminder.")
    for reminder in due:
        status = _status(reminder, is_smtp_configured=bool(settings.smtp_host))
        click.echo(f"{reminder.stage:>22}  {reminder.line()}\n{'':>24}owner {reminder.owner}: {status}")
    if run is None:
        return
    click.echo(
        f"Sent {run.sent_count} reminder{'s' if run.sent_count != 1 else ''} "
        f"in {len(run.sent)} message{'s' if len(run.sent) != 1 else ''}."
    )
    for recipient, error in run.failed.items():
        click.echo(
            f"steward reminders: e-mail to {recipient} failed: {error}; it is retried next time.", err=True
        )
    if run.failed:
        sys.exit(1)
