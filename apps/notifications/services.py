"""Sending the Fulfillment Email: one row per recipient, sent at most once per attempt."""

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.utils import timezone

from apps.core.backoff import MAX_ATTEMPTS, retry_delay
from apps.core.services import audit_event_record
from apps.notifications.emails import (
    fulfillment_message,
    latest_certificates,
    new_message_id,
    shipment_entitlements,
)
from apps.notifications.models import FINAL, DeliveryStatus, EmailDelivery

logger = logging.getLogger(__name__)

_connections: dict = {}


def _connection():
    """One SMTP connection per worker process and server, opened once and kept."""
    key = (
        settings.EMAIL_BACKEND,
        getattr(settings, "EMAIL_HOST", ""),
        getattr(settings, "EMAIL_PORT", 0),
    )
    connection = _connections.get(key)
    if connection is None:
        connection = _connections[key] = get_connection()
    if getattr(connection, "connection", True) is None:
        connection.open()
    return connection


def _send(message) -> None:
    connection = _connection()
    try:
        connection.send_messages([message])
    except smtplib.SMTPServerDisconnected:
        # The kept connection went stale (a server timeout): reconnect once and try again.
        connection.close()
        connection.open()
        connection.send_messages([message])


def _is_permanent(error: Exception) -> bool:
    """5xx replies are final; 4xx replies, lost connections and timeouts are worth a retry."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def _locked(delivery_id: int) -> EmailDelivery | None:
    return (
        EmailDelivery.objects.select_for_update(of=("self",))
        .select_related("shipment__order")
        .filter(pk=delivery_id)
        .first()
    )


def _documents_ready(delivery: EmailDelivery) -> bool:
    certificates = latest_certificates(shipment_entitlements(delivery.shipment_id))
    return bool(certificates) and all(certificates.values())


def email_delivery_send(*, delivery_id: int) -> EmailDelivery | None:
    """Send one Fulfillment Email, once its certificates are rendered.

    Safe to run twice: a sent or failed delivery is left alone, and one that another worker
    is sending is left to it until its lease runs out. The one window in which a crash can
    send a second copy is after the SMTP server has accepted the message and before the
    row says `sent`: the lease then runs out and the rescuer sends it again, with the same
    Message-ID, so mail clients show one message.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = _locked(delivery_id)
        if delivery is None or delivery.status in FINAL:
            return delivery
        if delivery.status == DeliveryStatus.SENDING and delivery.lease_expires_at > now:
            return delivery
        if not _documents_ready(delivery):
            # Not an attempt: the certificates are still rendering.
            delivery.next_attempt_at = now + datetime.timedelta(
                seconds=settings.EMAIL_DOCUMENTS_WAIT
            )
            delivery.save(update_fields=["next_attempt_at"])
            return delivery
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        # EMAIL_SEND_LEASE outlasts one SMTP conversation (EMAIL_TIMEOUT), so a live send
        # is never taken over; a killed worker's email goes out again soon after it ends.
        delivery.lease_expires_at = now + datetime.timedelta(seconds=settings.EMAIL_SEND_LEASE)
        delivery.save(update_fields=["status", "attempts", "lease_expires_at"])
    try:
        _send(fulfillment_message(delivery))
    except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
        logger.warning("email delivery %s failed: %s", delivery_id, error.__class__.__name__)
        return _delivery_failed(delivery_id, error)
    # <- The window: the server has the message, the row does not say so yet.
    with transaction.atomic():
        delivery = _locked(delivery_id)
        if delivery.status == DeliveryStatus.SENDING:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = timezone.now()
            delivery.lease_expires_at = None
            delivery.last_error = ""
            delivery.save(update_fields=["status", "sent_at", "lease_expires_at", "last_error"])
    return delivery


def _delivery_failed(delivery_id: int, error: Exception) -> EmailDelivery | None:
    with transaction.atomic():
        delivery = _locked(delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.SENDING:
            return delivery
        delivery.last_error = f"{error.__class__.__name__}: {error}"[:1000]
        delivery.lease_expires_at = None
        if _is_permanent(error) or delivery.attempts >= MAX_ATTEMPTS:
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
        requested_by=actor if actor and actor.is_authenticated else None,
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
    from apps.notifications.tasks import email_delivery_send_task

    email_delivery_send_task.delay(delivery_id)


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
        audit_event_record(
            actor=actor,
            action="email.retried",
            target=delivery.shipment.order,
            message=delivery.email,
        )
        transaction.on_commit(lambda pk=delivery.pk: _send_later(pk))
    return deliveries
