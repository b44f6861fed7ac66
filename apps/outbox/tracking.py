"""Delivery tracking: what the email service provider says became of an email it accepted.

With django-anymail and an ESP (Mailgun), the ESP posts each event (delivered, bounced,
complained, ...) to its signed webhook; anymail checks the signature and sends its
`tracking` signal, whose receiver here records the event on the delivery row.

Which event the row shows (ESPs send events out of order, and again after a timeout):

1. The strongest news wins, whatever the order of arrival: a complaint (marked as spam),
   then a bounce or a rejection, then opened, then delivered, then deferred. A "delivered"
   never hides a bounce, and a late "deferred" never hides a delivery.
2. Between two events of the same strength, the newer one (by the ESP's own timestamp)
   wins: a replayed or late older event changes nothing.
3. An event for a message Keyship did not send (no delivery has that message id for that
   recipient) changes nothing and is logged, without the recipient.

A bounce, a rejection or a complaint is written to the audit log too, by the ESP's webhook
as a job: Customer Care sees it on the delivery and on the order, and can send the message
to another address.
"""

import datetime
import logging
from email.utils import parseaddr

from anymail.signals import EventType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from apps.core.actors import Job
from apps.core.services import audit_event_record
from apps.outbox.models import (
    NEVER_ELSEWHERE,
    Channel,
    Delivery,
    DeliveryStatus,
    TrackingStatus,
)

logger = logging.getLogger(__name__)

# anymail's normalized event types -> what the delivery row shows. Hard bounces are
# "bounced": Mailgun's temporary failures arrive as "deferred". "failed" (the ESP could not
# send it at all) is a rejection; a click means the email was opened. The rest (queued,
# sent, unsubscribed, autoresponded, unknown) say nothing about delivery: ignored.
TRACKED_EVENTS: dict[str, str] = {
    EventType.DEFERRED: TrackingStatus.DEFERRED,
    EventType.DELIVERED: TrackingStatus.DELIVERED,
    EventType.OPENED: TrackingStatus.OPENED,
    EventType.CLICKED: TrackingStatus.OPENED,
    EventType.BOUNCED: TrackingStatus.BOUNCED,
    EventType.REJECTED: TrackingStatus.REJECTED,
    EventType.FAILED: TrackingStatus.REJECTED,
    EventType.COMPLAINED: TrackingStatus.COMPLAINED,
}

# See the module's docstring: a stronger status is never replaced by a weaker one.
STRENGTH: dict[str, int] = {
    TrackingStatus.NONE: 0,
    TrackingStatus.DEFERRED: 1,
    TrackingStatus.DELIVERED: 2,
    TrackingStatus.OPENED: 3,
    TrackingStatus.BOUNCED: 4,
    TrackingStatus.REJECTED: 4,
    TrackingStatus.COMPLAINED: 5,
}

# What Customer Care must see, and is audited.
PROBLEMS = {TrackingStatus.BOUNCED, TrackingStatus.REJECTED, TrackingStatus.COMPLAINED}
# What another address may cure.
UNDELIVERABLE = {TrackingStatus.BOUNCED, TrackingStatus.REJECTED}


def _address(value: str) -> str:
    return parseaddr(value or "")[1].strip().lower()


def _replaces(delivery: Delivery, status: str, at: datetime.datetime) -> bool:
    stored = STRENGTH.get(delivery.tracking_status, 0)
    if STRENGTH[status] != stored:
        return STRENGTH[status] > stored
    return delivery.tracking_at is None or at > delivery.tracking_at


@transaction.atomic
def delivery_tracking_record(
    *,
    esp_message_id: str,
    event_type: str,
    recipient: str,
    timestamp: datetime.datetime | None,
    description: str,
    actor,
) -> list[Delivery]:
    """Record one tracking event of the email service provider on the deliveries it names
    (by the ESP's message id, or the Message-ID Keyship gave the email, and the recipient),
    by the precedence rules of this module; a bounce, a rejection or a complaint is audited.

    One transaction; the rows are locked, so two events of one message arriving at once are
    weighed one after the other. Idempotent: the same event again changes nothing. Returns
    the deliveries whose tracking changed.
    """
    status = TRACKED_EVENTS.get(event_type)
    if status is None or not esp_message_id:
        return []
    rows = (
        Delivery.objects.select_for_update(of=("self",))
        .filter(Q(esp_message_id=esp_message_id) | Q(message_id=esp_message_id))
        .filter(channel=Channel.EMAIL)
        .order_by("pk")
    )
    wanted = _address(recipient)
    matching = [row for row in rows if not wanted or _address(row.recipient) == wanted]
    if not matching:
        # The recipient is personal data and stays out of the log.
        logger.info(
            "tracking event %s for a message Keyship did not send (%s): ignored",
            event_type,
            esp_message_id[:200],
        )
        return []
    at = timestamp or timezone.now()
    changed = []
    for delivery in matching:
        if not _replaces(delivery, status, at):
            continue
        delivery.tracking_status, delivery.tracking_at = status, at
        delivery.tracking_detail = (description or "")[:500]
        delivery.save(update_fields=["tracking_status", "tracking_at", "tracking_detail"])
        changed.append(delivery)
        if status in PROBLEMS:
            audit_event_record(
                actor=actor,
                action=f"delivery.{status}",
                target=delivery,
                message=f"{delivery.get_kind_display()} {delivery.about or delivery.topic} "
                f"to {delivery.recipient}: {delivery.get_tracking_status_display()}"
                + (f" ({delivery.tracking_detail})" if delivery.tracking_detail else ""),
                data={
                    "tracking_status": status,
                    "event_type": event_type,
                    "esp_message_id": esp_message_id[:200],
                    "detail": delivery.tracking_detail,
                },
            )
    return changed


def may_send_elsewhere(delivery: Delivery) -> bool:
    """An email that did not reach its address: bounced or rejected by the ESP, or refused
    for good by the mail server (a 5xx reply)."""
    return (
        delivery.channel == Channel.EMAIL
        and delivery.kind not in NEVER_ELSEWHERE
        and (delivery.tracking_status in UNDELIVERABLE or delivery.status == DeliveryStatus.FAILED)
    )


def anymail_tracking_received(sender, event, esp_name, **kwargs):
    """anymail's `tracking` signal (connected in OutboxConfig.ready): record the event."""
    detail = " - ".join(
        str(part).strip() for part in (event.description, event.mta_response) if part
    )
    delivery_tracking_record(
        esp_message_id=str(event.message_id or ""),
        event_type=event.event_type,
        recipient=event.recipient or "",
        timestamp=event.timestamp,
        description=detail,
        actor=Job(f"{slugify(esp_name).replace('-', '_')}_tracking_webhook"),
    )
