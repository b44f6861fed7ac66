"""Queueing and sending every outgoing message: one row each, sent at most once per attempt.

A service queues its message with `delivery_queue` inside its own transaction; the message
leaves once that transaction commits. Emails of every kind go out through Django's email
backend (SMTP, an email service provider through django-anymail, a backend that signs with
DKIM: whatever EMAIL_BACKEND names); webhook events go to their endpoints (webhooks.py).
"""

import datetime
import logging
import smtplib
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from apps.core import metrics, sealing
from apps.core.actors import actor_user
from apps.core.backoff import MAX_ATTEMPTS, retry_delay
from apps.core.db import atomic_reconnecting
from apps.core.logs import log_context
from apps.core.services import audit_event_record
from apps.outbox import kinds
from apps.outbox.models import (
    IN_FLIGHT,
    NEVER_ELSEWHERE,
    NOT_RESENT,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)

logger = logging.getLogger(__name__)

SEND_BATCH = 50
# A message is handed to the workers when its transaction commits; the rescuer looks at it
# only after this, in case that hand-over was lost.
HANDOVER_GRACE = datetime.timedelta(minutes=2)


def new_message_id() -> str:
    """A Message-ID of our own domain, fixed when a delivery row is made."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ") or "keyship.local"
    return f"<{uuid.uuid4().hex}@{domain}>"


def delivery_build(
    *,
    kind: str,
    topic: str,
    recipient: str,
    language: str = "en",
    about: str = "",
    payload: dict | None = None,
    content: str = "",
    channel: str = Channel.EMAIL,
    **fields,
) -> Delivery:
    """An unsaved delivery, for services that queue many at once with bulk_create (they then
    hand the ids to `deliveries_send_later`)."""
    fields.setdefault("next_attempt_at", timezone.now() + HANDOVER_GRACE)
    return Delivery(
        channel=channel,
        kind=kind,
        topic=topic,
        recipient=recipient,
        language=language or "en",
        about=about[:200],
        payload=payload or {},
        content_sealed=sealing.seal(content) if content else "",
        message_id=new_message_id(),
        **fields,
    )


def delivery_queue(**values) -> Delivery:
    """Queue one message (see delivery_build for its values) in the caller's transaction;
    it is sent once that transaction commits, or by the rescuer if that hand-over is lost."""
    delivery = delivery_build(**values)
    delivery.save()
    deliveries_send_later([delivery])
    return delivery


def deliveries_send_later(deliveries: list[Delivery]) -> None:
    """Hand these deliveries to the workers once the current transaction commits, in batches
    per channel (one task sends its batch over one connection)."""
    by_channel: dict[str, list[int]] = {}
    for delivery in deliveries:
        by_channel.setdefault(delivery.channel, []).append(delivery.pk)

    def hand_over():
        from apps.outbox.tasks import deliveries_hand_out  # tasks import services

        deliveries_hand_out(by_channel)

    transaction.on_commit(hand_over)


def _claim(*, delivery_ids, channel: str, limit: int, now) -> list[Delivery]:
    """Take up to `limit` sendable deliveries under a lease, in one short transaction.

    These ids, or else those due. SKIP LOCKED lets any number of workers claim at once
    without waiting for each other or taking the same row. A delivery that its kind cannot
    write yet (its certificates are not ready) waits, not as an attempt, and is looked at
    again after EMAIL_DOCUMENTS_WAIT.
    """
    due = Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY])
    if delivery_ids is None:
        due &= Q(next_attempt_at__lte=now)
    stuck = Q(status=DeliveryStatus.SENDING, lease_expires_at__lt=now)
    with transaction.atomic():
        rows = Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            due | stuck, channel=channel
        )
        if delivery_ids is not None:
            rows = rows.filter(pk__in=delivery_ids)
        if channel == Channel.WEBHOOK:
            rows = rows.exclude(waits_for_earlier_event())
        rows = list(rows.order_by("pk")[:limit])
        # A message whose every attempt ended with its worker (killed, out of memory) is not
        # handed to another one again: it fails, as one refused as often would.
        spent = [
            row
            for row in rows
            if row.status == DeliveryStatus.SENDING and row.attempts >= MAX_ATTEMPTS
        ]
        if spent:
            Delivery.objects.filter(pk__in=[row.pk for row in spent]).update(
                status=DeliveryStatus.FAILED,
                lease_expires_at=None,
                last_error=f"its worker stopped during each of its {MAX_ATTEMPTS} attempts",
            )
            rows = [row for row in rows if row not in spent]
        waiting = _waiting(rows)
        if waiting:
            Delivery.objects.filter(pk__in=waiting).update(
                next_attempt_at=now + datetime.timedelta(seconds=settings.EMAIL_DOCUMENTS_WAIT)
            )
        claimed = [row for row in rows if row.pk not in waiting]
        # EMAIL_SEND_LEASE outlasts a batch of conversations, so a live send is never taken
        # over; a killed worker's messages go out again soon after it ends.
        lease = now + datetime.timedelta(seconds=settings.EMAIL_SEND_LEASE)
        Delivery.objects.filter(pk__in=[row.pk for row in claimed]).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease
        )
        for row in claimed:
            row.status, row.attempts, row.lease_expires_at = (
                DeliveryStatus.SENDING,
                row.attempts + 1,
                lease,
            )
    for row in spent:
        _message_count(row, "failed")
        _failed_for_good(row)
    return claimed


def waits_for_earlier_event() -> Exists:
    """An endpoint gets the events of one topic (an entitlement, an order) in order: a
    webhook delivery waits while an earlier one of the same endpoint and topic is queued,
    being sent or waiting to retry. One that failed for good holds up nothing more. (An
    email has no endpoint: this never holds it.)"""
    return Exists(
        Delivery.objects.filter(
            endpoint=OuterRef("endpoint"),
            topic=OuterRef("topic"),
            pk__lt=OuterRef("pk"),
            status__in=IN_FLIGHT,
        )
    )


def _waiting(rows: list[Delivery]) -> set[int]:
    waiting: set[int] = set()
    for kind, of_kind in _by_kind(row for row in rows if row.channel == Channel.EMAIL).items():
        waiting |= kinds.email_kind(kind).waiting(of_kind)
    return waiting


def _by_kind(rows) -> dict[str, list[Delivery]]:
    grouped: dict[str, list[Delivery]] = {}
    for row in rows:
        grouped.setdefault(row.kind, []).append(row)
    return grouped


def deliveries_send(
    *, delivery_ids=None, channel: str = Channel.EMAIL, limit: int = SEND_BATCH
) -> list[Delivery]:
    """Send messages of one channel: these deliveries, or up to `limit` of those due.

    Safe to run twice and from any number of workers: a delivery is claimed under a lease
    (sent and failed ones never are) and marked `sent` the moment the server accepts it.
    The one window in which a crash can send a second copy is between that acceptance and
    that mark: the lease then runs out and the rescuer sends it again, with the same
    Message-ID (or webhook event id), so the recipient can tell it is the same message.
    """
    claimed = _claim(delivery_ids=delivery_ids, channel=channel, limit=limit, now=timezone.now())
    if not claimed:
        return claimed
    if channel == Channel.WEBHOOK:
        from apps.outbox.tasks import deliveries_hand_out
        from apps.outbox.webhooks import webhook_deliver, webhook_followers

        for delivery in claimed:
            _send_one(delivery, lambda delivery=delivery: webhook_deliver(delivery))
        followers = webhook_followers(claimed)
        if followers:
            deliveries_hand_out({Channel.WEBHOOK: followers})
        return claimed
    _emails_send(claimed)
    return claimed


def _emails_send(claimed: list[Delivery]) -> None:
    """Write each email with its kind's writer and give it to the configured email backend,
    over one connection for the batch."""
    writers = {kind: _writer(kind, rows) for kind, rows in _by_kind(claimed).items()}
    try:
        connection = get_connection()
    except Exception as error:  # noqa: BLE001 - a backend that cannot start (its settings)
        for delivery in claimed:
            _delivery_failed(delivery.pk, error)
        return
    try:
        for delivery in claimed:

            def send(delivery=delivery):
                message = writers[delivery.kind](delivery)
                message.connection = connection
                try:
                    if not connection.send_messages([message]):
                        raise smtplib.SMTPException("the email backend sent nothing")
                except BaseException:
                    _connection_drop(connection)
                    raise
                # The ESP's id for the message (anymail), for its tracking events; 0 is an id.
                status = getattr(message, "anymail_status", None)
                esp_message_id = getattr(status, "message_id", None)
                return "" if esp_message_id is None else str(esp_message_id)

            _send_one(delivery, send)
    finally:
        connection.close()


def _writer(kind: str, rows: list[Delivery]):
    """The kind's writer for its rows of the batch. When the kind cannot read what the whole
    batch needs (one shipment's certificate is missing from the storage, say), each email is
    written on its own: the failure lands on the row that has it, with its reason, and the
    batch's other emails go out."""
    try:
        return kinds.email_kind(kind).writer(rows)
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # noqa: BLE001 - each row then meets it, and records it
        logger.warning("%s emails written one by one: %s", kind, error.__class__.__name__)
        return lambda delivery: kinds.email_kind(kind).writer([delivery])(delivery)


def _connection_drop(connection) -> None:
    """Leave a conversation stopped at an unknown point (a refusal, a task out of time in
    the middle of a message) without a word: a server still reading a message would take a
    QUIT as its text. A server that loses the connection before a message's end discards
    it, and the next email opens a new connection."""
    smtp = getattr(connection, "connection", None)
    if isinstance(smtp, smtplib.SMTP):
        try:
            smtp.close()
        except OSError:
            pass
        connection.connection = None
    else:
        connection.close()


def _send_one(delivery: Delivery, send) -> None:
    what, _, key = delivery.topic.partition(":")
    with log_context(delivery_id=delivery.pk, ssrn=key if what == "entitlement" else None):
        _send_one_in_context(delivery, send)


def _send_one_in_context(delivery: Delivery, send) -> None:
    try:
        esp_message_id = send()
    except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
        _delivery_failed(delivery.pk, error)
        if isinstance(error, SoftTimeLimitExceeded):
            # The task's time is up: the batch stops here. The rows it claimed and did not
            # reach wait for their lease to run out, then the rescuer sends them.
            raise
        return
    # <- The window: the server has the message, the row does not say so yet. A database
    # connection lost here is opened again (atomic_reconnecting): only a worker that dies
    # here sends a second copy.
    sent_at = timezone.now()
    marked = atomic_reconnecting(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SENT,
            sent_at=sent_at,
            lease_expires_at=None,
            last_error="",
            esp_message_id=str(esp_message_id or "")[:200],
        )
    )
    _message_count(delivery, "sent")
    if marked and delivery.kind == DeliveryKind.FULFILLMENT and delivery.resend_of_id is None:
        # A Fulfillment Email's row is written in the transaction that ships its shipment,
        # so its creation is the moment the shipment shipped (a resend's is not).
        metrics.lag_observe("shipped_to_accepted", (sent_at - delivery.created_at).total_seconds())


def _message_count(delivery: Delivery, outcome: str) -> None:
    metrics.messages.labels(channel=delivery.channel, kind=delivery.kind, outcome=outcome).inc()


def is_permanent(error: Exception) -> bool:
    """5xx replies are final; 4xx replies, lost connections and timeouts are worth a retry.
    A webhook's permanent refusals raise PermanentFailure."""
    if isinstance(error, PermanentFailure):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


class PermanentFailure(Exception):
    """The message can never be delivered as it is: no retry."""


def _delivery_failed(delivery_id: int, error: BaseException) -> Delivery | None:
    logger.warning("delivery %s failed: %s", delivery_id, error.__class__.__name__)
    delivery, changed = atomic_reconnecting(_delivery_put_back, delivery_id, error)
    if not changed:
        return delivery
    _message_count(delivery, "failed" if delivery.status == DeliveryStatus.FAILED else "retry")
    if delivery.status == DeliveryStatus.FAILED:
        _failed_for_good(delivery)
    return delivery


def _delivery_put_back(delivery_id: int, error: BaseException) -> tuple[Delivery | None, bool]:
    """Record a failed attempt: retry later, or failed for good (_delivery_failed). Returns
    the row and whether it was this worker's to record."""
    delivery = Delivery.objects.select_for_update(of=("self",)).filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.SENDING:
        return delivery, False
    delivery.last_error = f"{error.__class__.__name__}: {error}"[:1000]
    delivery.lease_expires_at = None
    if is_permanent(error) or delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.status = DeliveryStatus.RETRY
        delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
    delivery.save(update_fields=["status", "last_error", "lease_expires_at", "next_attempt_at"])
    return delivery, True


def _failed_for_good(delivery: Delivery) -> None:
    """A webhook endpoint that keeps failing is looked at (see webhooks.py)."""
    if delivery.channel == Channel.WEBHOOK:
        from apps.outbox.webhooks import webhook_endpoint_failed

        webhook_endpoint_failed(delivery=delivery)


def delivery_send(*, delivery_id: int) -> Delivery | None:
    """Send one message now (see deliveries_send); returns its row as it ends."""
    channel = Delivery.objects.filter(pk=delivery_id).values_list("channel", flat=True).first()
    if channel is None:
        return None
    deliveries_send(delivery_ids=[delivery_id], channel=channel, limit=1)
    return Delivery.objects.filter(pk=delivery_id).first()


@transaction.atomic
def delivery_resend(
    *, delivery: Delivery, actor, reason: str, recipient: str | None = None
) -> Delivery:
    """A new delivery of the same message, with the reason, to the same recipient or to
    `recipient` (another address, after a bounce); audited. Reminder digests are not resent
    (NOT_RESENT); sign-in and password-reset links go to their own address only
    (NEVER_ELSEWHERE)."""
    if delivery.kind in NOT_RESENT:
        raise ValueError(f"a {delivery.kind} is not resent")
    elsewhere = recipient and recipient.strip().lower() != delivery.recipient.lower()
    if elsewhere and delivery.kind in NEVER_ELSEWHERE:
        raise ValueError(f"a {delivery.kind} goes to its own address only")
    original = delivery.resend_of or delivery
    resend = Delivery.objects.create(
        channel=delivery.channel,
        kind=delivery.kind,
        topic=delivery.topic,
        about=delivery.about,
        recipient=recipient or delivery.recipient,
        endpoint_id=delivery.endpoint_id,
        language=delivery.language,
        payload=delivery.payload,
        content_sealed=delivery.content_sealed,
        message_id=new_message_id(),
        resend_of=original,
        reason=reason,
        requested_by=actor_user(actor),
    )
    audit_event_record(
        actor=actor,
        action="delivery.resent",
        target=resend,
        message=f"{delivery.get_kind_display()} {delivery.about or delivery.topic} "
        f"to {resend.recipient}: {reason}",
        data={"resend_of": original.pk, "recipient": resend.recipient, "kind": delivery.kind},
    )
    deliveries_send_later([resend])
    return resend


@transaction.atomic
def deliveries_retry(*, delivery_ids, actor) -> list[Delivery]:
    """Send failed or waiting deliveries again now, with a fresh set of attempts; audited."""
    deliveries = list(
        Delivery.objects.select_for_update(of=("self",)).filter(
            pk__in=delivery_ids, status__in=[DeliveryStatus.FAILED, DeliveryStatus.RETRY]
        )
    )
    for delivery in deliveries:
        delivery.status, delivery.attempts = DeliveryStatus.QUEUED, 0
        delivery.next_attempt_at, delivery.lease_expires_at = timezone.now(), None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "lease_expires_at"])
        audit_event_record(
            actor=actor,
            action="delivery.retried",
            target=delivery,
            message=f"{delivery.get_kind_display()} {delivery.about or delivery.topic} "
            f"to {delivery.recipient}",
        )
    deliveries_send_later(deliveries)
    return deliveries


def deliveries_due(*, now: datetime.datetime, limit: int = 500) -> dict[str, list[int]]:
    """The deliveries no worker is doing, per channel: due for (another) attempt, or in
    flight past their lease (a killed worker, a lost message). For the rescuer."""
    rows = (
        Delivery.objects.filter(
            Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY], next_attempt_at__lte=now)
            | Q(status=DeliveryStatus.SENDING, lease_expires_at__lt=now)
        )
        # Events waiting behind an earlier one are not anybody's to do yet: an endpoint
        # that is down for a day must not fill the rescue's batch and hold up the email.
        .exclude(waits_for_earlier_event())
        .order_by("pk")
        .values_list("channel", "pk")[:limit]
    )
    due: dict[str, list[int]] = {}
    for channel, pk in rows:
        due.setdefault(channel, []).append(pk)
    return due


def in_flight(deliveries) -> bool:
    return any(delivery.status in IN_FLIGHT for delivery in deliveries)
