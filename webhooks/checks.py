"""`manage.py check --deploy` warnings about webhook settings."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def private_webhook_urls_in_production(app_configs, **kwargs):
    """WEBHOOK_ALLOW_PRIVATE_URLS lets an integration's URL point Latchkey at its own network
    (loopback, private ranges, cloud metadata). It is for local development: with DEBUG off,
    say so."""
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS and not settings.DEBUG:
        return [
            Warning(
                "WEBHOOK_ALLOW_PRIVATE_URLS is on with DEBUG off: webhook URLs may point at "
                "loopback, private and link-local addresses (this machine, its network, cloud "
                "metadata endpoints).",
                hint="Unset WEBHOOK_ALLOW_PRIVATE_URLS in production; it is for local development.",
                id="webhooks.W001",
            )
        ]
    return []
