"""Login throttling (django-axes): failures count per username and client address; the tenth
locks that pair out for 15 minutes with a 429 lockout page, even for the right password (and an
attempt during the lockout starts the 15 minutes again); the address is REMOTE_ADDR unless
TRUST_X_FORWARDED_FOR says a proxy appends the client's."""

import io
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unguessable pass phrase"  # noqa: S105
LOGIN = "/admin/login/"


@pytest.fixture
def maria(db):
    return get_user_model().objects.create_user("maria", password=PASSWORD, is_staff=True)


def log_in(client, password, address="203.0.113.7", **headers):
    return client.post(
        LOGIN, {"username": "maria", "password": password}, REMOTE_ADDR=address, headers=headers
    )


def fail(client, times, **where):
    """``times`` wrong passwords; the tenth in a row answers the lockout page."""
    for _ in range(times):
        response = log_in(client, "wrong", **where)
        if response.status_code == 429:
            return response
        assert response.status_code == 200  # the login form again, with its error
        assert b"Please enter the correct username and password" in response.content
    return response


def test_ten_failures_lock_the_username_from_that_address_for_fifteen_minutes(client, maria):
    fail(client, 9)
    assert log_in(client, PASSWORD).status_code == 302  # nine are forgiven: the tenth locks
    client.logout()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        locked = fail(client, 10)
        assert locked.status_code == 429
        assert b"Too many failed logins" in locked.content
        assert b"15 minutes" in locked.content
        clock.shift(timedelta(minutes=14, seconds=59))
        assert log_in(client, PASSWORD).status_code == 429  # the right password waits too
        clock.shift(timedelta(minutes=15, seconds=1))  # 15 minutes after that last attempt
        assert log_in(client, PASSWORD).status_code == 302


def test_the_lockout_is_for_that_address_so_a_stranger_cannot_lock_the_owner_out(client, maria):
    assert fail(client, 10, address="198.51.100.66").status_code == 429
    assert log_in(client, PASSWORD, address="198.51.100.66").status_code == 429
    assert log_in(client, PASSWORD, address="203.0.113.7").status_code == 302


def test_x_forwarded_for_is_ignored_unless_trusted(client, maria, settings):
    settings.TRUST_X_FORWARDED_FOR = False
    for n in range(10):  # a client naming a new address each time gains nothing
        log_in(client, "wrong", address="203.0.113.7", x_forwarded_for=f"192.0.2.{n}")
    assert log_in(client, PASSWORD, x_forwarded_for="192.0.2.200").status_code == 429


def test_a_trusted_proxys_address_is_the_last_in_x_forwarded_for(client, maria, settings):
    settings.TRUST_X_FORWARDED_FOR = True
    proxy = "10.0.0.5"
    # The client writes what it likes before the address the proxy appends; only that one counts.
    for n in range(10):
        log_in(client, "wrong", address=proxy, x_forwarded_for=f"192.0.2.{n}, 198.51.100.66")
    assert log_in(client, PASSWORD, address=proxy, x_forwarded_for="198.51.100.66").status_code == 429
    # Another client behind the same proxy is not locked out.
    assert log_in(client, PASSWORD, address=proxy, x_forwarded_for="203.0.113.9").status_code == 302


def test_a_failed_attempts_password_is_not_kept(client, maria):
    log_in(client, "a near miss of the pass phrase")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "maria" and attempt.failures_since_start == 1
    kept = " ".join(str(v) for v in AccessAttempt.objects.values().get().values())
    assert "near miss" not in kept


def test_axes_reset_lifts_every_lockout(client, maria):
    assert fail(client, 10).status_code == 429
    assert log_in(client, PASSWORD).status_code == 429
    call_command("axes_reset", stdout=io.StringIO())
    assert log_in(client, PASSWORD).status_code == 302
