from celery import shared_task

from apps.core.actors import Job
from apps.core.services import job_run
from apps.fulfillment.services import (
    order_lines_fulfil_due,
    queued_work_rescue,
    shipment_documents_prepare,
)
from apps.lms.services import legacy_key_uploads_purge
from apps.outbox.models import Channel
from apps.outbox.tasks import deliveries_hand_out


# A sweep walks every due order in batches (each its own transaction): minutes on a big day.
@shared_task(periodic=True, soft_time_limit=240, time_limit=270)
def fulfil_due_task() -> None:
    """The sweep (every minute, from beat): ship every due line. Any number may run at once."""
    with job_run("fulfil_due_task") as summary:
        report = order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        summary.update(
            lines_shipped=len(report.shipped),
            lines_blocked=len(report.blocked),
            shipments=len(report.shipments),
        )


# Renders each certificate of a shipment in turn, each under its own render lease.
@shared_task(soft_time_limit=240, time_limit=270)
def shipment_documents_task(shipment_id: int) -> None:
    """Render a shipment's certificates (pdf queue), then hand its emails to the mail queue.
    Safe to run twice."""
    deliveries = shipment_documents_prepare(shipment_id=shipment_id)
    deliveries_hand_out({Channel.EMAIL: deliveries})


# A query per kind of row and a batch of messages to the broker: seconds at most.
@shared_task(periodic=True, soft_time_limit=60, time_limit=90)
def queued_work_rescue_task() -> None:
    """Every minute, from beat: give the workers again what a lost message or a killed
    worker left behind, and what is due for another attempt (certificates, and every
    outgoing message of the outbox); and remove legacy key uploads that expired
    unconfirmed."""
    with job_run("queued_work_rescue_task") as summary:
        shipments, deliveries = queued_work_rescue()
        purged = legacy_key_uploads_purge()
        for shipment_id in shipments:
            shipment_documents_task.delay(shipment_id)
        deliveries_hand_out(deliveries)
        summary.update(
            certificate_shipments=len(shipments),
            emails=len(deliveries.get(Channel.EMAIL, [])),
            webhooks=len(deliveries.get(Channel.WEBHOOK, [])),
            uploads_purged=purged,
        )
