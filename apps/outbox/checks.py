"""`manage.py check --deploy`: a production setting that lets webhooks reach internal hosts."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def webhooks_private_urls_check(app_configs, **kwargs):
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS and not settings.DEBUG:
        return [
            Warning(
                "WEBHOOK_ALLOW_PRIVATE_URLS is on with DEBUG off: webhook endpoints may point "
                "at loopback and private addresses (this host, the database, cloud metadata).",
                hint="Unset WEBHOOK_ALLOW_PRIVATE_URLS in production; it is for development "
                "and tests.",
                id="keyship.W001",
            )
        ]
    return []
