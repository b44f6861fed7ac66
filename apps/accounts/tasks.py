import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from apps.accounts.models import AccessRequest, ContactNotice, ContactNoticeKind
from apps.accounts.services import access_decision_notify, contact_notice_notify

logger = logging.getLogger(__name__)


def _decision_email(access_request: AccessRequest) -> None:
    contact = access_request.contact
    with translation.override(contact.language):
        context = {
            "access_request": access_request,
            "contact": contact,
            "portal_url": settings.SITE_URL + reverse("portal:entitlements"),
        }
        send_mail(
            subject=render_to_string("emails/access_decision_subject.txt", context).strip(),
            message=render_to_string("emails/access_decision.txt", context),
            from_email=None,
            recipient_list=[contact.user.email],
        )


@shared_task
def access_decision_email_task(access_request_id: int) -> None:
    """Tell a contact how Customer Care decided their access request (mail queue). Safe to
    run twice: see access_decision_notify. A failure waits for the rescuer's next try."""
    try:
        access_decision_notify(access_request_id=access_request_id, send=_decision_email)
    except Exception as error:  # noqa: BLE001 - counted on the row, tried again later
        logger.warning(
            "access decision %s: email failed: %s", access_request_id, error.__class__.__name__
        )


def _notice_text(notice: ContactNotice) -> tuple[str, str]:
    """The subject and body of a contact notice, in the active language."""
    data = notice.data
    who = (
        _('the API client "%(api_client)s"') % {"api_client": data["api_client"]}
        if data.get("api_client")
        else pgettext("changed by", "Customer Care")
    )
    if notice.kind == ContactNoticeKind.ASSOCIATION_ADDED:
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


def _notice_email(notice: ContactNotice) -> None:
    with translation.override(notice.language):
        subject, body = _notice_text(notice)
    send_mail(subject=subject, message=body, from_email=None, recipient_list=[notice.recipient])


@shared_task
def contact_notice_email_task(notice_id: int) -> None:
    """Send a contact notice (mail queue). Safe to run twice: see contact_notice_notify. A
    failure waits for the rescuer's next try."""
    try:
        contact_notice_notify(notice_id=notice_id, send=_notice_email)
    except Exception as error:  # noqa: BLE001 - counted on the row, tried again later
        logger.warning("contact notice %s: email failed: %s", notice_id, error.__class__.__name__)
