"""The outbox's own email: telling an endpoint's owner that it was disabled."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.outbox.kinds import EmailKind
from apps.outbox.models import Delivery


class EndpointDisabledNotices(EmailKind):
    """An endpoint's deliveries kept failing: it receives nothing until it is enabled."""

    def writer(self, deliveries: list[Delivery]):
        def message(delivery: Delivery) -> EmailMessage:
            data = delivery.payload
            with translation.override(delivery.language):
                subject = _("Keyship: your webhook endpoint was disabled")
                lines = [
                    _("Hello,"),
                    _(
                        "Keyship disabled the webhook endpoint %(url)s: %(failures)d deliveries "
                        "in a row failed, each after every retry. It receives no events until "
                        "it is enabled again."
                    )
                    % {"url": data["url"], "failures": data["failures"]},
                    _("The last error: %(error)s") % {"error": data.get("last_error") or "-"},
                    _(
                        "Once the endpoint answers again, enable it in the admin or through "
                        "the API (PATCH with active: true):"
                    ),
                    settings.SITE_URL
                    + reverse("admin:outbox_webhookendpoint_change", args=[data["endpoint"]]),
                    _("Keyship Operations"),
                ]
            return EmailMessage(
                subject=subject,
                body="\n\n".join(lines) + "\n",
                to=[delivery.recipient],
                headers={"Message-ID": delivery.message_id},
            )

        return message
