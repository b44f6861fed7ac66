from celery import shared_task
from django.utils import timezone

from apps.accounts.services import access_decisions_unsent, contact_notices_unsent
from apps.accounts.tasks import access_decision_email_task, contact_notice_email_task
from apps.core.actors import Job
from apps.fulfillment.services import (
    order_lines_fulfil_due,
    queued_work_rescue,
    shipment_documents_prepare,
)
from apps.lms.services import legacy_key_uploads_purge
from apps.notifications.tasks import email_deliveries_send_task

SEND_BATCH = 50


# A sweep walks every due order in batches (each its own transaction): minutes on a big day.
@shared_task(periodic=True, soft_time_limit=240, time_limit=270)
def fulfil_due_task() -> None:
    """The sweep (every minute, from beat): ship every due line. Any number may run at once."""
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))


# Renders each certificate of a shipment in turn, each under its own render lease.
@shared_task(soft_time_limit=240, time_limit=270)
def shipment_documents_task(shipment_id: int) -> None:
    """Render a shipment's certificates (pdf queue), then hand its emails to the mail queue.
    Safe to run twice."""
    deliveries = shipment_documents_prepare(shipment_id=shipment_id)
    if deliveries:
        email_deliveries_send_task.delay(deliveries)


@shared_task(periodic=True)
def queued_work_rescue_task() -> None:
    """Every minute, from beat: give the workers again what a lost message or a killed
    worker left behind, and what is due for another attempt (certificates, Fulfillment
    Emails, the emails that tell contacts how their access requests were decided, and the
    notices of new associations and changed addresses); and remove legacy key uploads that
    expired unconfirmed."""
    shipments, deliveries = queued_work_rescue()
    for access_request_id in access_decisions_unsent(now=timezone.now()):
        access_decision_email_task.delay(access_request_id)
    for notice_id in contact_notices_unsent(now=timezone.now()):
        contact_notice_email_task.delay(notice_id)
    legacy_key_uploads_purge()
    for shipment_id in shipments:
        shipment_documents_task.delay(shipment_id)
    # In batches: one task sends its emails over one SMTP connection.
    for start in range(0, len(deliveries), SEND_BATCH):
        email_deliveries_send_task.delay(deliveries[start : start + SEND_BATCH])
