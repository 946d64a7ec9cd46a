"""Expiry reminders: 30, 7, 1 days before and on expiry, once each, one e-mail per owner, on the dashboard."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import app.reminders as reminders_module
from app import create_app
from app.assessment import accept_risk, attest_requirement
from app.catalog import get_catalog
from app.db import dispose_engine, get_engine, make_engine, session_scope
from app.jobs import configure_scheduler, declared_jobs, scheduled_reminders
from app.models.assessment import Finding, RiskAcceptance, SentReminder
from app.models.users import AuditEntry
from app.reminders import THRESHOLDS, due_reminders, send_due_reminders, stage_of
from app.reminders_cli import reminders_command
from app.security import create_user
from tests.conftest import PASSWORD, database_environment

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MANUAL = ("owasp-asi-2026", "ASI05")


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"

    def parsed(self):
        return [message_from_bytes(m.content, policy=default_policy) for m in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def mail_settings(app, smtp_server):
    """The app's settings with SMTP pointing at the loopback server."""
    return replace(
        app.config["STEWARD"],
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_from="steward@acme.example",
        organisation="Acme Robotics GmbH",
    )


_subjects = iter(range(1, 10_000))


def open_finding(session, *, check_id: str = "agent_has_accountable_owner") -> Finding:
    finding = Finding(
        check_id=check_id,
        subject_kind="agent",
        subject_id=f"agent-{next(_subjects)}",
        severity="high",
        first_seen_at=NOW - timedelta(days=60),
        last_seen_at=NOW,
    )
    session.add(finding)
    session.flush()
    return finding


def exception(session, *, expires_in: timedelta, owner: str = "alice@acme.example", finding=None, now=NOW):
    """A risk acceptance of an open finding, recorded 100 days before now, expiring at now + expires_in."""
    finding = finding or open_finding(session)
    acceptance = accept_risk(
        session,
        finding_id=finding.id,
        justification="Compensating control in place",
        accepted_by=owner,
        expires_at=now + expires_in,
        now=now + expires_in - timedelta(days=200),
    )
    session.commit()
    return acceptance


def attestation(app, session, *, expires_in: timedelta, owner: str = "alice@acme.example", now=NOW):
    made = attest_requirement(
        session,
        catalog=get_catalog(app),
        framework_id=MANUAL[0],
        requirement_id=MANUAL[1],
        statement="Code execution is sandboxed",
        attested_by=owner,
        expires_at=now + expires_in,
        evidence_url="https://wiki.acme.example/sandbox",
        now=now + expires_in - timedelta(days=200),
    )
    session.commit()
    return made


def sent_rows(engine) -> list[tuple]:
    with session_scope(engine) as session:
        return [
            (r.item_kind, r.item_id, r.threshold_days, r.recipient)
            for r in session.execute(select(SentReminder).order_by(SentReminder.id)).scalars()
        ]


@pytest.mark.parametrize(
    ("left", "stage"),
    [
        (timedelta(days=31), None),
        (timedelta(days=30), 30),
        (timedelta(days=8), 30),
        (timedelta(days=7), 7),
        (timedelta(days=1, seconds=1), 7),
        (timedelta(days=1), 1),
        (timedelta(minutes=1), 1),
        (timedelta(0), 0),
        (-timedelta(days=3), 0),
    ],
)
def test_the_stage_is_the_most_urgent_threshold_reached(left, stage):
    assert stage_of(NOW + left, NOW) == stage


def test_each_threshold_is_sent_exactly_once_over_an_exceptions_life(
    app, engine, session, smtp_server, mail_settings
):
    acceptance = exception(session, expires_in=timedelta(days=40))
    expires = NOW + timedelta(days=40)
    moments = [
        NOW,  # 40 days left: nothing yet
        expires - timedelta(days=30),
        expires - timedelta(days=30) + timedelta(hours=1),
        expires - timedelta(days=7),
        expires - timedelta(days=7) + timedelta(hours=1),
        expires - timedelta(days=7) + timedelta(days=3),
        expires - timedelta(hours=23),
        expires - timedelta(hours=1),
        expires + timedelta(hours=1),
        expires + timedelta(days=2),
    ]
    for moment in moments:
        send_due_reminders(engine, settings=mail_settings, now=moment)
        send_due_reminders(engine, settings=mail_settings, now=moment)  # the job running twice
    assert [row[2] for row in sent_rows(engine)] == list(THRESHOLDS)
    assert len(smtp_server.messages) == 4
    bodies = [m.get_body(("plain",)).get_content() for m in smtp_server.parsed()]
    assert all(f"Exception #{acceptance.id}" in body for body in bodies)
    assert "expires in 30 days" in bodies[0] and "expires in 7 days" in bodies[1]
    assert "expires in 23 h" in bodies[2] and "expired 1 h ago" in bodies[3]


def test_the_reminder_for_an_exception_expiring_in_7_days_is_sent_exactly_once(
    app, engine, session, smtp_server, mail_settings, settings
):
    acceptance = exception(session, expires_in=timedelta(days=7))
    first = send_due_reminders(engine, settings=mail_settings, now=NOW)
    assert first.sent_count == 1
    second = send_due_reminders(engine, settings=mail_settings, now=NOW + timedelta(minutes=5))
    assert second.sent_count == 0
    # a restart: a new process with its own app and engine on the same database
    restarted = create_app(settings)
    try:
        third = send_due_reminders(
            get_engine(restarted), settings=mail_settings, now=NOW + timedelta(hours=2)
        )
    finally:
        dispose_engine(restarted)
    assert third.sent_count == 0
    assert len(smtp_server.messages) == 1
    assert sent_rows(engine) == [("exception", acceptance.id, 7, "alice@acme.example")]


def test_concurrent_runs_send_a_reminder_once(app, engine, session, smtp_server, mail_settings, monkeypatch):
    exception(session, expires_in=timedelta(days=7))
    exception(session, expires_in=timedelta(days=6), owner="bob@acme.example")
    runs = 4
    # Every run has read the due list, and found nothing sent, before any of them claims.
    everyone_has_read = threading.Barrier(runs, timeout=30)
    claim = reminders_module.claim_reminders

    def claim_after_all_have_read(*args, **kwargs):
        everyone_has_read.wait()
        return claim(*args, **kwargs)

    monkeypatch.setattr(reminders_module, "claim_reminders", claim_after_all_have_read)
    url = app.config["STEWARD"].resolved_database_url
    results, errors = [], []

    def run_in_own_process_like():
        own_engine = make_engine(url)
        try:
            results.append(send_due_reminders(own_engine, settings=mail_settings, now=NOW))
        except Exception as exc:
            errors.append(exc)
        finally:
            own_engine.dispose()

    threads = [threading.Thread(target=run_in_own_process_like) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.sent_count for r in results) == 2
    assert sorted(tuple(m.rcpt_tos) for m in smtp_server.messages) == [
        ("alice@acme.example",),
        ("bob@acme.example",),
    ]
    assert len(sent_rows(engine)) == 2


def test_the_database_refuses_a_second_record_of_the_same_reminder(session):
    session.add(
        SentReminder(item_kind="exception", item_id=1, threshold_days=7, recipient="a@x.example", sent_at=NOW)
    )
    session.commit()
    session.add(
        SentReminder(item_kind="exception", item_id=1, threshold_days=1, recipient="a@x.example", sent_at=NOW)
    )
    session.commit()  # another threshold of the same item is another reminder
    session.add(
        SentReminder(item_kind="exception", item_id=1, threshold_days=7, recipient="b@x.example", sent_at=NOW)
    )
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_each_owner_gets_one_message_grouping_their_items(app, engine, session, smtp_server, mail_settings):
    first = exception(session, expires_in=timedelta(days=7))
    second = exception(session, expires_in=timedelta(days=29), owner="Alice@Acme.example")
    expired = exception(session, expires_in=-timedelta(hours=3))
    attested = attestation(app, session, expires_in=timedelta(hours=20))
    other = exception(session, expires_in=timedelta(days=2), owner="bob@acme.example")
    run = send_due_reminders(engine, settings=mail_settings, catalog=get_catalog(app), now=NOW)
    assert sorted(run.sent) == ["alice@acme.example", "bob@acme.example"]
    assert len(smtp_server.messages) == 2
    by_recipient = {tuple(m.rcpt_tos): m for m in smtp_server.messages}
    alice = message_from_bytes(by_recipient[("alice@acme.example",)].content, policy=default_policy)
    subject = "Acme Robotics GmbH: 3 expiring and 1 expired items to renew or let lapse"
    assert alice["Subject"].strip() == subject  # a long subject is folded, hence strip()
    assert alice["From"] == "steward@acme.example"
    body = alice.get_body(("plain",)).get_content()
    for item in (f"Exception #{first.id}", f"Exception #{second.id}", f"Exception #{expired.id}"):
        assert item in body
    assert f"Attestation #{attested.id} of owasp-asi-2026 ASI05 Unexpected Code Execution (RCE)" in body
    assert body.index("Expiring:") < body.index(f"Exception #{first.id}") < body.index("Expired:")
    assert f"Exception #{other.id}" not in body
    bob = message_from_bytes(by_recipient[("bob@acme.example",)].content, policy=default_policy)
    assert bob["Subject"].strip() == "Acme Robotics GmbH: 1 expiring item to renew or let lapse"
    assert f"Exception #{other.id}" in bob.get_body(("plain",)).get_content()


def test_sending_is_in_the_audit_trail(engine, session, smtp_server, mail_settings):
    acceptance = exception(session, expires_in=timedelta(days=7))
    send_due_reminders(engine, settings=mail_settings, now=NOW, actor="scheduler")
    with session_scope(engine) as check:
        entry = check.execute(select(AuditEntry).where(AuditEntry.action == "reminder.send")).scalar_one()
    assert entry.actor == "scheduler" and entry.target == "alice@acme.example"
    assert entry.detail["items"] == [
        {
            "item": f"exception #{acceptance.id}",
            "threshold_days": 7,
            "expires_at": (NOW + timedelta(days=7)).isoformat(),
        }
    ]


def test_nothing_is_emailed_without_smtp_but_the_reminders_are_due(app, engine, session, smtp_server):
    exception(session, expires_in=timedelta(days=7))
    run = send_due_reminders(engine, settings=app.config["STEWARD"], now=NOW)
    assert not run.is_smtp_configured
    assert [r.threshold_days for r in run.due] == [7]
    assert smtp_server.messages == [] and sent_rows(engine) == []


def test_an_owner_who_is_not_an_email_address_is_reminded_on_the_dashboard_only(
    engine, session, smtp_server, mail_settings
):
    exception(session, expires_in=timedelta(days=7), owner="carol")
    run = send_due_reminders(engine, settings=mail_settings, now=NOW)
    assert [r.owner for r in run.dashboard_only] == ["carol"]
    assert run.sent == {} and smtp_server.messages == [] and sent_rows(engine) == []


def test_a_revoked_exception_gets_no_reminder(engine, session, smtp_server, mail_settings):
    kept = exception(session, expires_in=timedelta(days=7))
    revoked = exception(session, expires_in=timedelta(days=7))
    revoked.revoked_at, revoked.revoked_by = NOW - timedelta(days=1), "admin"
    session.commit()
    run = send_due_reminders(engine, settings=mail_settings, now=NOW)
    assert [r.item_id for r in run.due] == [kept.id]
    assert [row[1] for row in sent_rows(engine)] == [kept.id]


def test_a_renewed_exception_gets_no_reminder_but_a_later_one_for_another_finding_does(
    engine, session, smtp_server, mail_settings
):
    old = exception(session, expires_in=timedelta(days=7))
    finding = session.get(Finding, old.finding_id)
    exception(session, expires_in=timedelta(days=300), finding=finding)  # the renewal
    other = exception(session, expires_in=timedelta(days=7))
    run = send_due_reminders(engine, settings=mail_settings, now=NOW)
    assert [r.item_id for r in run.due] == [other.id]
    # a renewal that is itself revoked renews nothing
    renewal = session.execute(
        select(RiskAcceptance).where(RiskAcceptance.finding_id == finding.id, RiskAcceptance.id != old.id)
    ).scalar_one()
    renewal.revoked_at = NOW
    session.commit()
    assert old.id in [r.item_id for r in due_reminders(session, now=NOW)]


def test_an_exception_of_a_resolved_finding_gets_no_reminder(engine, session, smtp_server, mail_settings):
    acceptance = exception(session, expires_in=timedelta(days=7))
    finding = session.get(Finding, acceptance.finding_id)
    finding.status, finding.resolved_at = "resolved", NOW - timedelta(days=1)
    session.commit()
    assert due_reminders(session, now=NOW) == []
    finding.status, finding.resolved_at = "reopened", None
    session.commit()
    assert [r.item_id for r in due_reminders(session, now=NOW)] == [acceptance.id]


def test_revoked_and_renewed_attestations_get_no_reminder(app, session):
    catalog = get_catalog(app)
    first = attestation(app, session, expires_in=timedelta(days=7))
    assert [r.item_id for r in due_reminders(session, now=NOW, catalog=catalog)] == [first.id]
    renewal = attestation(app, session, expires_in=timedelta(days=200))
    assert due_reminders(session, now=NOW, catalog=catalog) == []
    renewal.revoked_at = NOW
    session.commit()
    assert [r.item_id for r in due_reminders(session, now=NOW, catalog=catalog)] == [first.id]
    first.revoked_at = NOW
    session.commit()
    assert due_reminders(session, now=NOW, catalog=catalog) == []


def test_a_stage_passed_over_is_not_sent_late_and_long_expired_items_are_dropped(
    engine, session, smtp_server, mail_settings
):
    late = exception(session, expires_in=timedelta(days=5))  # recorded after its 30-day mark
    exception(session, expires_in=-timedelta(days=31))  # expired a month ago
    run = send_due_reminders(engine, settings=mail_settings, now=NOW)
    assert [(r.item_id, r.threshold_days) for r in run.due] == [(late.id, 7)]
    assert sent_rows(engine) == [("exception", late.id, 7, "alice@acme.example")]


def test_a_failed_delivery_is_retried_by_the_next_run(app, engine, session, smtp_server, mail_settings):
    acceptance = exception(session, expires_in=timedelta(days=7))
    down = replace(mail_settings, smtp_port=free_port())  # nothing listens there
    failed = send_due_reminders(engine, settings=down, now=NOW)
    assert "ConnectionRefusedError" in failed.failed["alice@acme.example"]
    assert sent_rows(engine) == []
    with session_scope(engine) as check:
        entry = check.execute(select(AuditEntry).where(AuditEntry.action == "reminder.fail")).scalar_one()
    assert entry.target == "alice@acme.example" and "ConnectionRefusedError" in entry.detail["error"]
    retried = send_due_reminders(engine, settings=mail_settings, now=NOW + timedelta(hours=1))
    assert retried.sent_count == 1 and len(smtp_server.messages) == 1
    assert sent_rows(engine) == [("exception", acceptance.id, 7, "alice@acme.example")]


def test_reminders_are_a_declared_hourly_job_in_the_persistent_store(app, engine):
    [job] = [j for j in declared_jobs(app.config["STEWARD"]) if j.id == "send-reminders"]
    assert job.func == "app.jobs:scheduled_reminders"
    assert job.trigger.interval == timedelta(hours=1)
    scheduler = configure_scheduler(BackgroundScheduler(timezone="UTC"), engine, app.config["STEWARD"])
    scheduler.start(paused=True)
    try:
        assert scheduler.get_job("send-reminders", jobstore="default") is not None
    finally:
        scheduler.shutdown(wait=False)


def test_the_scheduled_job_sends_a_reminder_once_across_runs(
    monkeypatch, settings, app, session, smtp_server
):
    for name, value in database_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STEWARD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("STEWARD_SMTP_FROM", "steward@acme.example")
    now = datetime.now(UTC)
    acceptance = exception(session, expires_in=timedelta(days=7), now=now)
    scheduled_reminders()
    scheduled_reminders()  # each run builds its own app and engine, as after a restart
    assert len(smtp_server.messages) == 1
    assert f"Exception #{acceptance.id}" in smtp_server.parsed()[0].get_body(("plain",)).get_content()


def test_the_migration_creates_the_reminder_table_as_the_model_declares(engine):
    from tests.conftest import schema_differences

    diff = schema_differences(engine)
    assert [d for d in diff if "sent_reminder" in repr(d)] == []


def cli_app(settings, **changes):
    return create_app(replace(settings, **changes))


def test_the_cli_lists_due_reminders_and_their_state(app, session, settings):
    exception(session, expires_in=timedelta(days=7), now=datetime.now(UTC))
    exception(session, expires_in=timedelta(days=20), owner="carol", now=datetime.now(UTC))
    result = app.test_cli_runner().invoke(reminders_command, [])
    assert result.exit_code == 0, result.output
    assert "7 days before expiry" in result.output and "30 days before expiry" in result.output
    assert "owner alice@acme.example: not e-mailed (STEWARD_SMTP_HOST is not set)" in result.output
    assert "owner carol: dashboard only (the owner is not an e-mail address)" in result.output


def test_the_cli_sends_with_send_and_refuses_without_smtp(app, session, settings, smtp_server):
    exception(session, expires_in=timedelta(days=7), now=datetime.now(UTC))
    refused = app.test_cli_runner().invoke(reminders_command, ["--send"])
    assert refused.exit_code == 2 and "STEWARD_SMTP_HOST is not set" in refused.stderr
    assert smtp_server.messages == []
    mailing = cli_app(settings, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    try:
        sent = mailing.test_cli_runner().invoke(reminders_command, ["--send"])
        assert sent.exit_code == 0, sent.output
        assert "Sent 1 reminder in 1 message." in sent.output
        assert "e-mailed to alice@acme.example" in sent.output
        again = mailing.test_cli_runner().invoke(reminders_command, ["--send"])
        assert "Sent 0 reminders in 0 messages." in again.output
    finally:
        dispose_engine(mailing)
    assert len(smtp_server.messages) == 1


def signed_in(app, username: str = "viewer"):
    from tests.views.conftest import make_client

    with session_scope(get_engine(app)) as session:
        create_user(session, username=username, password=PASSWORD, role="viewer", actor="test")
    return make_client(app, username)


def test_the_dashboard_lists_due_reminders_without_smtp(app, session):
    now = datetime.now(UTC)
    acceptance = exception(session, expires_in=timedelta(days=7), now=now)
    attested = attestation(app, session, expires_in=timedelta(days=1), owner="carol", now=now)
    page = signed_in(app).get("/").get_data(as_text=True)
    assert "Expiring exceptions and attestations" in page
    assert f"Exception #{acceptance.id}" in page and f"Attestation #{attested.id}" in page
    assert "not e-mailed: STEWARD_SMTP_HOST is not set" in page
    assert "dashboard only: carol is not an e-mail address" in page


def test_the_dashboard_has_no_reminder_list_when_nothing_is_due(app, session):
    exception(session, expires_in=timedelta(days=90), now=datetime.now(UTC))
    page = signed_in(app).get("/").get_data(as_text=True)
    assert "No exception or attestation expires in the next 30 days." in page
