"""The sign-in throttle: too many failures close sign-in for a username or an address for a while."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from app.db import dispose_engine, get_engine, session_scope
from app.models.users import AuditEntry, SignInFailure
from app.security import create_user
from tests.conftest import PASSWORD
from tests.views.conftest import make_client, sign_in

WRONG = "not the password at all"


def _app(settings, **overrides):
    app = create_app(replace(settings, **overrides))
    with session_scope(get_engine(app)) as session:
        create_user(session, username="alice", password=PASSWORD, role="viewer", actor="test")
        create_user(session, username="bob", password=PASSWORD, role="viewer", actor="test")
    return app


@pytest.fixture
def web(settings):
    app = _app(settings)
    yield app
    dispose_engine(app)


def _from(app, address: str):
    client = make_client(app, None)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _age_failures(app, minutes: int) -> None:
    """Move every recorded failure this many minutes into the past (the window passing)."""
    with session_scope(get_engine(app)) as session:
        session.execute(update(SignInFailure).values(at=SignInFailure.at - timedelta(minutes=minutes)))


def test_five_failures_lock_the_account_even_for_the_right_password(web):
    client = _from(web, "10.0.0.1")
    for _ in range(5):
        assert sign_in(client, "alice", WRONG).status_code == 401
    response = sign_in(client, "alice")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.get_data(as_text=True)
    # Another account from the same address is not locked by alice's failures.
    assert sign_in(_from(web, "10.0.0.1"), "bob").status_code == 302
    with session_scope(get_engine(web)) as session:
        actions = (
            session.execute(select(AuditEntry.action).where(AuditEntry.actor == "alice")).scalars().all()
        )
    assert actions.count("auth.sign_in_failed") == 5 and actions.count("auth.sign_in_throttled") == 1


def test_the_lock_lifts_when_the_window_has_passed(web):
    client = _from(web, "10.0.0.1")
    for _ in range(5):
        sign_in(client, "alice", WRONG)
    assert sign_in(client, "alice").status_code == 429
    _age_failures(web, 16)
    assert sign_in(client, "alice").status_code == 302


def test_fewer_failures_than_the_limit_do_not_lock_and_a_success_clears_them(web):
    client = _from(web, "10.0.0.1")
    for _ in range(4):
        assert sign_in(client, "alice", WRONG).status_code == 401
    assert sign_in(client, "alice").status_code == 302
    # The count started again at the success: four more failures still leave the account open.
    other = _from(web, "10.0.0.1")
    for _ in range(4):
        assert sign_in(other, "alice", WRONG).status_code == 401
    assert sign_in(other, "alice").status_code == 302


def test_an_unknown_username_is_throttled_alike_so_the_lock_tells_no_account_exists(web):
    client = _from(web, "10.0.0.1")
    for name in ("alice", "nobody"):
        for _ in range(5):
            assert sign_in(client, name, WRONG).status_code == 401
        assert sign_in(client, name, WRONG).status_code == 429


def test_many_failures_from_one_address_close_it_for_every_username(settings):
    app = _app(settings, sign_in_max_failures_per_address=6)
    try:
        attacker = _from(app, "203.0.113.9")
        for i in range(6):  # a password spray: one guess per username
            assert sign_in(attacker, f"user-{i}", WRONG).status_code == 401
        assert sign_in(attacker, "alice").status_code == 429
        # Someone else, elsewhere, signs in as usual.
        assert sign_in(_from(app, "198.51.100.7"), "alice").status_code == 302
    finally:
        dispose_engine(app)


def test_worker_processes_share_the_count_through_the_database(settings, web):
    # A second app on the same database stands for a second gunicorn worker.
    second = create_app(settings)
    try:
        for i in range(5):
            app = web if i % 2 else second
            assert sign_in(_from(app, "10.0.0.1"), "alice", WRONG).status_code == 401
        assert sign_in(_from(web, "10.0.0.1"), "alice").status_code == 429
        assert sign_in(_from(second, "10.0.0.1"), "alice").status_code == 429
    finally:
        dispose_engine(second)


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(settings):
    for trusted, expected in ((0, "127.0.0.1"), (1, "192.0.2.44")):
        app = (
            _app(settings, trusted_proxies=trusted)
            if trusted == 0
            else create_app(replace(settings, trusted_proxies=1))
        )
        try:
            client = make_client(app, None)
            client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.44"
            assert sign_in(client, "alice", WRONG).status_code == 401
            with session_scope(get_engine(app)) as session:
                address = session.execute(
                    select(SignInFailure.address).order_by(SignInFailure.id.desc())
                ).scalar()
            assert address == expected
        finally:
            dispose_engine(app)


def test_the_throttle_can_be_turned_off(settings):
    app = _app(settings, sign_in_max_failures=0, sign_in_max_failures_per_address=0)
    try:
        client = _from(app, "10.0.0.1")
        for _ in range(8):
            assert sign_in(client, "alice", WRONG).status_code == 401
        assert sign_in(client, "alice").status_code == 302
    finally:
        dispose_engine(app)
