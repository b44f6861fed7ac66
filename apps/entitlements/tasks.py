import smtplib

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation

from apps.core.actors import Job
from apps.entitlements.changes import entitlement_status_changes_record
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import license_keys_file
from apps.entitlements.services import certificate_render


@shared_task(soft_time_limit=120, time_limit=150)
def certificate_render_task(certificate_id: int) -> None:
    """Render one certificate (pdf queue). Safe to run twice: see certificate_render."""
    certificate_render(certificate_id=certificate_id)


@shared_task(periodic=True, soft_time_limit=240, time_limit=270)
def entitlement_status_changes_task() -> None:
    """Every five minutes, from beat: record in the change feed each subscription that the
    calendar moved (active -> grace -> expired) since the last run. Safe to run twice or at
    once: see entitlement_status_changes_record."""
    entitlement_status_changes_record(actor=Job("entitlement_status_changes_task"))


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=10,
)
def license_keys_email_task(entitlement_id: int, user_id: int, language: str) -> None:
    """Email a portal user the license keys of an entitlement's live activations (mail
    queue), as a file. Retried while the mail server is away; a repeat sends them again."""
    entitlement = Entitlement.objects.select_related("product").get(pk=entitlement_id)
    user = get_user_model().objects.get(pk=user_id)
    with translation.override(language):
        context = {"entitlement": entitlement, "user": user}
        message = EmailMessage(
            subject=render_to_string("emails/license_keys_subject.txt", context).strip(),
            body=render_to_string("emails/license_keys.txt", context),
            to=[user.email],
        )
        filename, text = license_keys_file(entitlement=entitlement)
        message.attach(filename, text, "text/plain")
        message.send()
