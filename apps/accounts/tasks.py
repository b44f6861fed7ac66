import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from apps.accounts.models import AccessRequest


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=10,
)
def access_decision_email_task(access_request_id: int) -> None:
    """Tell a contact how Customer Care decided their access request (mail queue). Retried
    while the mail server is away; a repeat sends the same message again, which is harmless."""
    access_request = AccessRequest.objects.select_related("contact__user", "account").get(
        pk=access_request_id
    )
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
