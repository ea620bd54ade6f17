"""Webhook signing secrets, inbound (a connected account's) and outbound (a subscription's),
are stored encrypted with CREDENTIALS_KEY, like provider credentials."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from devices.credentials import CredentialsUnreadable
from devices.models import ConnectedAccount
from tests.devices.factories import ConnectedAccountFactory, WorkspaceFactory
from webhooks.models import WebhookSubscription
from webhooks.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db


def _key(model, pk):
    return model._meta.pk.get_db_prep_value(pk, connection)


def stored(model, field: str, pk) -> str:
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {model._meta.pk.column} = %s", [_key(model, pk)])  # noqa: S608
        return cursor.fetchone()[0]


def store_plaintext(model, field: str, pk, value: str) -> None:
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = %s WHERE {model._meta.pk.column} = %s",  # noqa: S608
            [value, _key(model, pk)],
        )


@pytest.fixture
def secrets_in_use(db):
    account = ConnectedAccountFactory()
    subscription = subscription_create(workspace=WorkspaceFactory(), url="https://hooks.example.com/")
    return account, subscription


def test_webhook_secrets_are_encrypted_in_the_database_and_read_back_whole(secrets_in_use):
    account, subscription = secrets_in_use
    for model, field, obj in [
        (ConnectedAccount, "webhook_secret", account),
        (WebhookSubscription, "secret", subscription),
    ]:
        secret = getattr(model.objects.get(pk=obj.pk), field)
        assert secret.startswith("whsec_")
        raw = stored(model, field, obj.pk)
        assert secret not in raw and secret.removeprefix("whsec_") not in raw
        assert raw.startswith("gAAAAA")  # a Fernet token


@pytest.mark.parametrize(
    ("module", "app", "model", "field"),
    [
        ("devices.migrations.0007_webhook_secret_encrypted", "devices", ConnectedAccount, "webhook_secret"),
        ("webhooks.migrations.0002_subscription_secret_encrypted", "webhooks", WebhookSubscription, "secret"),
    ],
)
def test_the_migration_encrypts_secrets_stored_in_plain_text(secrets_in_use, module, app, model, field):
    obj = secrets_in_use[0] if model is ConnectedAccount else secrets_in_use[1]
    legacy = "whsec_" + "bGVnYWN5LXNlY3JldC1ieXRlcy0xMjM0"
    store_plaintext(model, field, obj.pk, legacy)
    assert getattr(model.objects.get(pk=obj.pk), field) == legacy  # readable until migrated
    importlib.import_module(module).encrypt_existing(apps, None)
    assert stored(model, field, obj.pk).startswith("gAAAAA")
    assert getattr(model.objects.get(pk=obj.pk), field) == legacy


def test_a_changed_credentials_key_makes_secrets_unreadable_not_wrong(secrets_in_use, settings):
    account, _ = secrets_in_use
    settings.CREDENTIALS_KEY = "another key"
    with pytest.raises(CredentialsUnreadable):
        ConnectedAccount.objects.get(pk=account.pk)
