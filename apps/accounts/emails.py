"""The emails of this app on the outbox: access decisions and contact notices."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from apps.accounts.models import AccessRequest
from apps.outbox.kinds import EmailKind
from apps.outbox.models import Delivery, topic_key

# What a contact notice tells (the `notice` of its payload).
ASSOCIATION_ADDED = "association_added"
EMAIL_CHANGED = "email_changed"


class AccessDecisions(EmailKind):
    """How Customer Care (or a customer admin) decided a contact's access request."""

    def writer(self, deliveries: list[Delivery]):
        requests = AccessRequest.objects.select_related("contact__user", "account").in_bulk(
            [int(topic_key(delivery.topic, "access_request")) for delivery in deliveries]
        )

        def message(delivery: Delivery) -> EmailMessage:
            access_request = requests[int(topic_key(delivery.topic, "access_request"))]
            with translation.override(delivery.language):
                context = {
                    "access_request": access_request,
                    "contact": access_request.contact,
                    "portal_url": settings.SITE_URL + reverse("portal:entitlements"),
                }
                return EmailMessage(
                    subject=render_to_string("emails/access_decision_subject.txt", context).strip(),
                    body=render_to_string("emails/access_decision.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )

        return message


class ContactNotices(EmailKind):
    """A change someone did not make themselves: a new contact on their account, a new
    email address on their login."""

    def writer(self, deliveries: list[Delivery]):
        def message(delivery: Delivery) -> EmailMessage:
            with translation.override(delivery.language):
                subject, body = _notice_text(delivery.payload)
            return EmailMessage(
                subject=subject,
                body=body,
                to=[delivery.recipient],
                headers={"Message-ID": delivery.message_id},
            )

        return message


def _notice_text(data: dict) -> tuple[str, str]:
    """The subject and body of a contact notice, in the active language."""
    who = (
        _('the API client "%(api_client)s"') % {"api_client": data["api_client"]}
        if data.get("api_client")
        else pgettext("changed by", "Customer Care")
    )
    if data["notice"] == ASSOCIATION_ADDED:
        subject = _("Keyship: new contact for account %(account_id)s") % data
        lines = [
            _(
                "%(email)s was associated with account %(account_id)s (%(account_name)s) by "
                "%(who)s. This contact now sees the account's entitlements and their "
                "activation codes in the portal."
            )
            % {**data, "who": who},
            _("If you do not know this person, please tell Customer Care at once."),
        ]
    else:
        subject = _("Keyship: the email address of your login was changed")
        lines = [
            _(
                "The email address of your Keyship login was changed from %(email)s to "
                "%(new_email)s by %(who)s. Messages and password resets now go to the new "
                "address."
            )
            % {**data, "who": who},
            _("If you did not ask for this, please tell Customer Care at once."),
        ]
    return subject, "\n\n".join([_("Hello,"), *lines, _("Keyship Customer Care")]) + "\n"
