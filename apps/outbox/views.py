"""The email service provider's tracking webhook (see tracking.py for what it records)."""

from anymail.utils import get_anymail_setting
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from django.http import Http404
from django.views.decorators.csrf import csrf_exempt

_mailgun_tracking = MailgunTrackingWebhookView.as_view()


@csrf_exempt
def mailgun_tracking_webhook(request, *args, **kwargs):
    """anymail's Mailgun tracking webhook (it refuses a call whose signature does not match
    with 400), answered only once the webhook signing key is configured: without it the
    address does not exist."""
    if not get_anymail_setting("webhook_signing_key", esp_name="Mailgun", default=""):
        raise Http404
    return _mailgun_tracking(request, *args, **kwargs)
