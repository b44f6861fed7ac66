import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from apps.accounts.models import AccessRequest
from apps.accounts.services import access_decision_notify

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
