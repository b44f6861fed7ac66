"""Sending the Fulfillment Email: one row per recipient, sent at most once per attempt."""

import datetime
import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.actors import actor_user
from apps.core.backoff import MAX_ATTEMPTS, retry_delay
from apps.core.services import audit_event_record
from apps.entitlements.models import Certificate, CertificateStatus
from apps.entitlements.selectors import shipment_entitlements
from apps.notifications.emails import ShipmentContents, delivery_message, new_message_id
from apps.notifications.models import DeliveryStatus, EmailDelivery, ShipmentEmail
from apps.notifications.transport import Handover, hand_over, is_permanent, prepare
from apps.orders.models import Shipment

logger = logging.getLogger(__name__)


def _locked(delivery_id: int) -> EmailDelivery | None:
    return EmailDelivery.objects.select_for_update(of=("self",)).filter(pk=delivery_id).first()


def _documents_missing(*, shipment_ids: set[int]) -> set[int]:
    """The shipments of which a certificate (new or renewed entitlement) is not rendered yet.

    A few queries per batch of deliveries, each on its own index, whatever their number.
    """
    delivered = shipment_entitlements(shipment_ids=shipment_ids)
    unready = set(
        Certificate.objects.filter(
            entitlement_id__in={item.entitlement.pk for item in delivered},
            status__in=[
                CertificateStatus.QUEUED,
                CertificateStatus.RENDERING,
                CertificateStatus.FAILED,
            ],
        ).values_list("entitlement_id", flat=True)
    )
    return {item.shipment_id for item in delivered if item.entitlement.pk in unready}


def _claim(*, delivery_ids, limit: int, now) -> list[EmailDelivery]:
    """Take up to `limit` sendable deliveries under a lease, in one short transaction.

    These ids, or else those due. SKIP LOCKED lets any number of workers claim at once
    without waiting for each other or taking the same row. A delivery whose certificates
    are not all ready waits (not an attempt) and is looked at again after
    EMAIL_DOCUMENTS_WAIT.
    """
    due = Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY])
    if delivery_ids is None:
        due &= Q(next_attempt_at__lte=now)
    stuck = Q(status=DeliveryStatus.SENDING, lease_expires_at__lt=now)
    with transaction.atomic():
        rows = (
            EmailDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("shipment__order")
            .filter(due | stuck)
        )
        if delivery_ids is not None:
            rows = rows.filter(pk__in=delivery_ids)
        rows = list(rows.order_by("pk")[:limit])
        missing = _documents_missing(shipment_ids={row.shipment_id for row in rows} - {None})
        waiting = [row.pk for row in rows if row.shipment_id in missing]
        if waiting:
            EmailDelivery.objects.filter(pk__in=waiting).update(
                next_attempt_at=now + datetime.timedelta(seconds=settings.EMAIL_DOCUMENTS_WAIT)
            )
        claimed = [row for row in rows if row.shipment_id not in missing]
        # EMAIL_SEND_LEASE outlasts a batch of SMTP conversations, so a live send is never
        # taken over; a killed worker's emails go out again soon after it ends.
        lease = now + datetime.timedelta(seconds=settings.EMAIL_SEND_LEASE)
        EmailDelivery.objects.filter(pk__in=[row.pk for row in claimed]).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease
        )
        for row in claimed:
            row.status, row.attempts, row.lease_expires_at = (
                DeliveryStatus.SENDING,
                row.attempts + 1,
                lease,
            )
    return claimed


def shipment_emails_render(*, shipment_id: int) -> None:
    """Render and store the shipment's Fulfillment Email in each language its addresses
    read, once its certificates are ready; its deliveries then only send it."""
    languages = set(
        EmailDelivery.objects.filter(shipment_id=shipment_id).values_list("language", flat=True)
    ) - set(
        ShipmentEmail.objects.filter(shipment_id=shipment_id).values_list("language", flat=True)
    )
    if not languages:
        return
    contents = ShipmentContents({shipment_id})
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    for language in sorted(languages):
        contents.email(shipment, language)


def email_deliveries_send(*, delivery_ids=None, limit: int = 50) -> list[EmailDelivery]:
    """Send Fulfillment Emails: these deliveries, or up to `limit` of those that are due.

    Safe to run twice and from any number of workers: a delivery is claimed under a lease
    (sent and failed ones never are) and marked `sent` the moment the SMTP server accepts
    it. The one window in which a crash can send a second copy is between that acceptance
    and that mark: the lease then runs out and the rescuer sends it again, with the same
    Message-ID, so mail clients show one message.

    The next email is built while the server reads the last one (see transport), and handed
    over only once the last one's answer is read and written on its row: at most one email
    is ever in that window.
    """
    claimed = _claim(delivery_ids=delivery_ids, limit=limit, now=timezone.now())
    contents = ShipmentContents({d.shipment_id for d in claimed if d.shipment_id})
    in_flight = None
    try:
        for delivery in claimed:
            try:
                prepared = prepare(delivery_message(delivery, contents))
            except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
                _delivery_failed(delivery.pk, error)
                _stop_when_out_of_time(error)
                continue
            if in_flight:
                settling, in_flight = in_flight, None
                _delivery_settle(*settling)
            in_flight = (delivery, hand_over(prepared))
    finally:
        # Whatever stopped the batch, the server's answer is read, or the kept connection
        # would read it as the answer to the next command.
        if in_flight:
            _delivery_settle(*in_flight)
    return claimed


def _delivery_settle(delivery: EmailDelivery, handover: Handover) -> None:
    """Read the server's answer on this delivery and write it on its row."""
    try:
        handover.verdict()
    except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
        _delivery_failed(delivery.pk, error)
        _stop_when_out_of_time(error)
        return
    # <- The window: the server has the message, the row does not say so yet.
    EmailDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), lease_expires_at=None, last_error=""
    )


def _stop_when_out_of_time(error: Exception) -> None:
    """The task's time is up (its row is back for a retry): the batch stops here. The rows
    it claimed and did not reach wait for their lease to run out, then the rescuer sends
    them."""
    if isinstance(error, SoftTimeLimitExceeded):
        raise error


def email_delivery_send(*, delivery_id: int) -> EmailDelivery | None:
    """Send one Fulfillment Email (see email_deliveries_send); returns its row as it ends."""
    email_deliveries_send(delivery_ids=[delivery_id], limit=1)
    return EmailDelivery.objects.select_related("shipment__order").filter(pk=delivery_id).first()


def _delivery_failed(delivery_id: int, error: Exception) -> EmailDelivery | None:
    logger.warning("email delivery %s failed: %s", delivery_id, error.__class__.__name__)
    with transaction.atomic():
        delivery = _locked(delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.SENDING:
            return delivery
        delivery.last_error = f"{error.__class__.__name__}: {error}"[:1000]
        delivery.lease_expires_at = None
        if is_permanent(error) or delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.status = DeliveryStatus.RETRY
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
        delivery.save(update_fields=["status", "last_error", "lease_expires_at", "next_attempt_at"])
    return delivery


@transaction.atomic
def email_delivery_resend(*, delivery: EmailDelivery, actor, reason: str) -> EmailDelivery:
    """A new delivery of the same shipment to the same address, with the reason; audited."""
    resend = EmailDelivery.objects.create(
        shipment=delivery.shipment,
        email=delivery.email,
        language=delivery.language,
        message_id=new_message_id(),
        resend_of=delivery.resend_of or delivery,
        reason=reason,
        requested_by=actor_user(actor),
    )
    audit_event_record(
        actor=actor,
        action="email.resent",
        target=delivery.shipment.order,
        message=f"Fulfillment Email of shipment {delivery.shipment_id} "
        f"to {delivery.email}: {reason}",
    )
    transaction.on_commit(lambda: _send_later(resend.pk))
    return resend


def _send_later(delivery_id: int) -> None:
    from apps.notifications.tasks import email_deliveries_send_task

    email_deliveries_send_task.delay([delivery_id])


@transaction.atomic
def email_deliveries_retry(*, delivery_ids, actor) -> list[EmailDelivery]:
    """Send failed or waiting deliveries again now, with a fresh set of attempts; audited."""
    deliveries = list(
        EmailDelivery.objects.select_for_update(of=("self",))
        .select_related("shipment__order")
        .filter(pk__in=delivery_ids, status__in=[DeliveryStatus.FAILED, DeliveryStatus.RETRY])
    )
    for delivery in deliveries:
        delivery.status, delivery.attempts = DeliveryStatus.QUEUED, 0
        delivery.next_attempt_at, delivery.lease_expires_at = timezone.now(), None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "lease_expires_at"])
        # A Fulfillment Email belongs to an order; a reminder digest to no order, only itself.
        audit_event_record(
            actor=actor,
            action="email.retried",
            target=delivery.shipment.order if delivery.shipment_id else delivery,
            message=delivery.email,
        )
        transaction.on_commit(lambda pk=delivery.pk: _send_later(pk))
    return deliveries
