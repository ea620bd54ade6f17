"""The subscription services the API and the admin call: every bad input is named, and a
refused request writes nothing."""

import base64

import pytest
from django.core.exceptions import ValidationError

from codes.models import EventType
from tests.devices.factories import WorkspaceFactory
from webhooks import selectors
from webhooks.models import WebhookSubscription
from webhooks.services.subscriptions import (
    subscription_create,
    subscription_delete,
    subscription_update,
    url_problem,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace():
    return WorkspaceFactory()


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


def test_a_new_subscription_gets_every_event_type_and_its_own_whsec_secret(workspace):
    sub = subscription_create(workspace=workspace, url="https://hooks.example.com/latchkey")
    other = subscription_create(workspace=workspace, url="https://hooks.example.com/other")
    assert sub.event_types == list(EventType.values)
    assert sub.secret.startswith("whsec_")
    assert len(base64.b64decode(sub.secret.removeprefix("whsec_"))) == 24
    assert sub.secret != other.secret
    assert (sub.is_disabled, sub.workspace) == (False, workspace)


def test_event_types_are_kept_once_each_in_the_given_order(workspace):
    sub = subscription_create(
        workspace=workspace,
        url="https://hooks.example.com/",
        event_types=["access_code.set_on_device", "device.disconnected", "access_code.set_on_device"],
    )
    assert sub.event_types == ["access_code.set_on_device", "device.disconnected"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "must start with http:// or https://"),
        ("hooks.example.com/latchkey", "must start with http:// or https://"),
        ("https:///path-only", "must name a host"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        (42, "must be a string"),
        (None, "must be a string"),
        ("https://example.com/" + "a" * 2000, "at most 2000"),
    ],
)
def test_a_bad_url_is_refused_naming_the_problem(workspace, url, message):
    with pytest.raises(ValidationError) as excinfo:
        subscription_create(workspace=workspace, url=url)
    (problem,) = errors_of(excinfo)["url"]
    assert message in problem
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/",
        "http://192.168.1.20/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(workspace, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as excinfo:
        subscription_create(workspace=workspace, url=url)
    assert "private, loopback or link-local" in errors_of(excinfo)["url"][0]


def test_a_public_address_is_accepted_when_private_ones_are_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert url_problem("https://93.184.216.34/hooks") is None
    assert url_problem("https://[2606:4700:4700::1111]/hooks") is None


def test_private_addresses_are_allowed_when_the_environment_says_so(workspace, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert (
        subscription_create(workspace=workspace, url="http://127.0.0.1:9000/").url == "http://127.0.0.1:9000/"
    )


@pytest.mark.parametrize(
    ("event_types", "message"),
    [
        (
            ["access_code.set_on_device", "access_code.exploded"],
            "'access_code.exploded' is not a Latchkey event type",
        ),
        (["a.b", "c.d"], "'a.b', 'c.d' are not Latchkey event types"),
        ("access_code.set_on_device", "must be a list of event type names"),
        ([1, 2], "must be a list of event type names"),
        ([], "must name at least one event type"),
    ],
)
def test_bad_event_types_are_refused_naming_them(workspace, event_types, message):
    with pytest.raises(ValidationError) as excinfo:
        subscription_create(workspace=workspace, url="https://hooks.example.com/", event_types=event_types)
    assert message in errors_of(excinfo)["event_types"][0]
    assert not WebhookSubscription.objects.exists()


def test_every_field_at_fault_is_named_at_once(workspace):
    with pytest.raises(ValidationError) as excinfo:
        subscription_create(workspace=workspace, url="gopher://x", event_types=["nope"])
    assert set(errors_of(excinfo)) == {"url", "event_types"}


def test_update_changes_only_the_fields_passed(workspace):
    sub = subscription_create(
        workspace=workspace, url="https://a.example.com/", event_types=["device.removed"]
    )
    secret = sub.secret
    subscription_update(subscription=sub, url="https://b.example.com/")
    sub.refresh_from_db()
    assert (sub.url, sub.event_types, sub.secret) == ("https://b.example.com/", ["device.removed"], secret)
    subscription_update(subscription=sub, event_types=["device.connected"])
    sub.refresh_from_db()
    assert (sub.url, sub.event_types) == ("https://b.example.com/", ["device.connected"])


def test_a_refused_update_changes_nothing(workspace):
    sub = subscription_create(
        workspace=workspace, url="https://a.example.com/", event_types=["device.removed"]
    )
    with pytest.raises(ValidationError) as excinfo:
        subscription_update(subscription=sub, url="https://b.example.com/", event_types=["bogus"])
    assert set(errors_of(excinfo)) == {"event_types"}
    sub.refresh_from_db()
    assert (sub.url, sub.event_types) == ("https://a.example.com/", ["device.removed"])


def test_delete_removes_it(workspace):
    sub = subscription_create(workspace=workspace, url="https://a.example.com/")
    subscription_delete(subscription=sub)
    assert not WebhookSubscription.objects.exists()


def test_subscriptions_for_lists_a_workspaces_own_disabled_included(workspace, now):
    mine = subscription_create(workspace=workspace, url="https://a.example.com/")
    off = subscription_create(workspace=workspace, url="https://b.example.com/")
    WebhookSubscription.objects.filter(pk=off.pk).update(is_disabled=True, disabled_at=now)
    subscription_create(workspace=WorkspaceFactory(), url="https://c.example.com/")
    assert set(selectors.subscriptions_for(workspace)) == {mine, off}
