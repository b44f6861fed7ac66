"""Shipping due order lines: entitlements, certificates to render, emails to send."""

import datetime
import logging
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import DeliveryMethod
from apps.core import metrics
from apps.core.dates import business_day_start, business_today
from apps.core.logs import log_context
from apps.core.models import AuditEvent
from apps.core.services import audit_event_build, audit_event_record
from apps.entitlements.models import Certificate, CertificateStatus
from apps.entitlements.selectors import shipment_certificates, shipment_entitlements
from apps.entitlements.services import (
    certificate_first_rescue,
    certificate_render,
    entitlements_create_for_lines,
    entitlements_renew,
    renewal_targets,
)
from apps.fulfillment.selectors import order_lines_due, sales_orders_with_due_lines
from apps.lms.services import legacy_keys_assign, legacy_keys_reserve
from apps.notifications.services import shipment_emails_render, shipment_topic
from apps.orders.models import (
    AccountRole,
    LineStatus,
    OrderAccount,
    OrderLine,
    SalesOrder,
    Shipment,
)
from apps.outbox.events import Event, events_record, webhook_subscribers
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus, topic
from apps.outbox.services import deliveries_due, delivery_build

logger = logging.getLogger(__name__)

# Orders claimed per transaction. Large enough that bulk writes amortise the round trips,
# small enough that a transaction holds its row locks for well under a second and that
# several sweepers share the work.
BATCH_SIZE = 100


@dataclass
class SweepReport:
    shipped: list[OrderLine] = field(default_factory=list)
    blocked: list[OrderLine] = field(default_factory=list)
    shipments: list[int] = field(default_factory=list)


def _blocking_reason(line: OrderLine, roles: list) -> str:
    if not line.product.is_active:
        return f'product "{line.product.sku}" is no longer sold'
    if not any(role.role == AccountRole.END_CUSTOMER for role in roles):
        return "the order has no end customer account"
    return ""


def _ship_orders(
    *, orders: list[SalesOrder], lines: list[OrderLine], shipped_on, actor
) -> SweepReport:
    """Ship `lines` (locked, of the locked `orders`) in the current transaction."""
    now = timezone.now()
    report = SweepReport()
    roles = {order.pk: list(order.order_accounts.all()) for order in orders}
    recipients = {order.pk: [e.email for e in order.emails.all()] for order in orders}
    renewals = renewal_targets(
        lines=[line for line in lines if line.renews_ssrn], order_accounts=roles
    )
    keys: dict[int, list] = {}
    shippable: dict[int, list[OrderLine]] = {}
    for line in lines:
        reason, waiting = _blocking_reason(line, roles[line.order_id]), 0
        if not reason and isinstance(renewals.get(line.pk), str):
            reason = renewals[line.pk]
        if (
            not reason
            and line.product.delivery_method == DeliveryMethod.HERITAGE_KEY
            and not line.renews_ssrn
        ):
            taken = [key.pk for reserved in keys.values() for key in reserved]
            keys[line.pk] = legacy_keys_reserve(
                product=line.product, count=line.quantity, taken=taken
            )
            waiting = line.quantity - len(keys[line.pk])
            if waiting:
                del keys[line.pk]
                reason = f'waiting for {waiting} more legacy key(s) of "{line.product.sku}"'
        if not reason:
            shippable.setdefault(line.order_id, []).append(line)
        elif (line.status, line.status_reason, line.waiting_for_keys) != (
            LineStatus.BLOCKED,
            reason,
            waiting,
        ):
            line.status, line.status_reason, line.waiting_for_keys = (
                LineStatus.BLOCKED,
                reason,
                waiting,
            )
            report.blocked.append(line)
        # else: still blocked for the same reason (a short pool): nothing new to record
    shipments = {
        order_id: Shipment(order_id=order_id, shipped_on=shipped_on) for order_id in shippable
    }
    Shipment.objects.bulk_create(shipments.values())
    for order_id, order_lines in shippable.items():
        for line in order_lines:
            line.status, line.status_reason = LineStatus.FULFILLED, ""
            line.fulfilled_at, line.shipment = now, shipments[order_id]
            report.shipped.append(line)
    entitlements = entitlements_create_for_lines(
        lines=[line for line in report.shipped if not line.renews_ssrn],
        starts_on=shipped_on,
        order_accounts=roles,
    )
    for entitlement in entitlements:
        if entitlement.order_line_id in keys:
            legacy_keys_assign(keys=keys[entitlement.order_line_id], entitlement=entitlement)
    terms = entitlements_renew(
        lines=[line for line in report.shipped if line.renews_ssrn],
        targets=renewals,
        shipped_on=shipped_on,
        actor=actor,
    )
    languages = {order.pk: order.language for order in orders}
    numbers = {order.pk: order.order_number for order in orders}
    Delivery.objects.bulk_create(
        delivery_build(
            kind=DeliveryKind.FULFILLMENT,
            topic=shipment_topic(shipment.pk),
            about=numbers[order_id],
            recipient=email,
            language=languages[order_id],
            # The shipment's task sends it once the certificates are ready; the rescuer
            # looks only after that, in case the task was lost.
            next_attempt_at=now + datetime.timedelta(seconds=settings.EMAIL_DOCUMENTS_WAIT),
        )
        for order_id, shipment in shipments.items()
        for email in recipients[order_id]
    )
    # One UPDATE per shipment and per reason: bulk_update's CASE per row costs twenty times more.
    for shipment in shipments.values():
        OrderLine.objects.filter(pk__in=[line.pk for line in shippable[shipment.order_id]]).update(
            status=LineStatus.FULFILLED,
            status_reason="",
            waiting_for_keys=0,
            fulfilled_at=now,
            shipment=shipment,
            updated_at=now,
        )
    for reason, waiting in {(line.status_reason, line.waiting_for_keys) for line in report.blocked}:
        OrderLine.objects.filter(
            pk__in=[
                line.pk
                for line in report.blocked
                if (line.status_reason, line.waiting_for_keys) == (reason, waiting)
            ]
        ).update(
            status=LineStatus.BLOCKED,
            status_reason=reason,
            waiting_for_keys=waiting,
            updated_at=now,
        )
    ssrns = {entitlement.order_line_id: entitlement.ssrn for entitlement in entitlements}
    ssrns.update({term.order_line_id: term.entitlement.ssrn for term in terms})
    # One insert for the whole batch: audit_event_record would cost a round trip per line.
    AuditEvent.objects.bulk_create(
        [
            audit_event_build(
                actor=actor,
                action="line.fulfilled",
                target=line,
                message=f"{line} shipped as {ssrns[line.pk]}",
                data={"shipment": line.shipment_id, "ssrn": ssrns[line.pk]},
            )
            for line in report.shipped
        ]
        + [
            audit_event_build(
                actor=actor,
                action="line.blocked",
                target=line,
                message=f"{line} blocked: {line.status_reason}",
            )
            for line in report.blocked
        ]
    )
    _line_events(report, numbers=numbers, ssrns=ssrns, shipped_on=shipped_on)
    report.shipments = [shipment.pk for shipment in shipments.values()]
    _lines_count(report, now=now)
    return report


def _lines_count(report: SweepReport, *, now: datetime.datetime) -> None:
    """Count the lines shipped and blocked, and how late each shipped line was, once the
    transaction that did it commits (a batch that rolls back shipped nothing)."""
    lags = [
        (now - business_day_start(line.requested_ship_date)).total_seconds()
        for line in report.shipped
    ]
    shipped, blocked = len(report.shipped), len(report.blocked)

    def record():
        if shipped:
            metrics.lines.labels(outcome="shipped").inc(shipped)
        if blocked:
            metrics.lines.labels(outcome="blocked").inc(blocked)
        for lag in lags:
            metrics.lag_observe("due_to_shipped", lag)

    if shipped or blocked:
        transaction.on_commit(record)


def _line_events(report: SweepReport, *, numbers: dict, ssrns: dict, shipped_on) -> None:
    """Tell the webhook endpoints that listen which lines shipped and which could not: one
    query for a batch when none listens, three when some do."""
    lines = report.shipped + report.blocked
    endpoints = webhook_subscribers(["line.shipped", "line.blocked"]) if lines else []
    if not endpoints:
        return
    accounts: dict[int, list[str]] = {}
    for order_id, account_id in (
        OrderAccount.objects.filter(order_id__in={line.order_id for line in lines})
        .order_by("account__account_id")
        .values_list("order_id", "account__account_id")
    ):
        accounts.setdefault(order_id, []).append(account_id)
    events = []
    for line in lines:
        shipped = line.status == LineStatus.FULFILLED
        data = {
            "order_number": numbers[line.order_id],
            "line_number": line.line_number,
            "sku": line.product.sku,
            "quantity": line.quantity,
            "requested_ship_date": line.requested_ship_date.isoformat(),
            "status": line.status,
            "account_ids": accounts.get(line.order_id, []),
        }
        if shipped:
            data.update(
                ssrn=ssrns[line.pk], shipment=line.shipment_id, shipped_on=shipped_on.isoformat()
            )
        else:
            data.update(reason=line.status_reason, waiting_for_keys=line.waiting_for_keys)
        events.append(
            Event(
                type="line.shipped" if shipped else "line.blocked",
                data=data,
                topic=topic("order", numbers[line.order_id]),
                account_ids=accounts.get(line.order_id, []),
                about=numbers[line.order_id],
            )
        )
    events_record(events, endpoints=endpoints)


def _lock_orders(order_ids) -> list[SalesOrder]:
    # The order row is the lock of its lines: the ERP's changes, Operations' actions and
    # every sweeper take it first, so they never interleave on one order.
    return list(
        SalesOrder.objects.filter(pk__in=order_ids)
        .select_for_update(skip_locked=True, of=("self",))
        .prefetch_related("order_accounts", "emails")
        .order_by("pk")
    )


def _locked_lines(orders, lines_query) -> list[OrderLine]:
    return list(
        lines_query.filter(order__in=orders)
        .select_related("product", "order")
        .select_for_update(of=("self",))
        .order_by("order_id", "line_number")
    )


def _after_commit(report: SweepReport) -> None:
    from apps.fulfillment.tasks import shipment_documents_task

    for shipment_id in report.shipments:
        transaction.on_commit(lambda pk=shipment_id: shipment_documents_task.delay(pk))


def _ship_batch(*, order_ids, lines_query, shipped_on, actor) -> SweepReport:
    """Ship the orders of `order_ids` that no other sweeper holds, in one transaction."""
    with transaction.atomic():
        orders = _lock_orders(order_ids)
        if not orders:
            return SweepReport()
        lines = _locked_lines(orders, lines_query)
        report = _ship_orders(orders=orders, lines=lines, shipped_on=shipped_on, actor=actor)
        _after_commit(report)
    return report


def _block_order_lines(*, order_id, lines_query, error: Exception, actor) -> list[OrderLine]:
    """Keep an order that cannot ship apart from the rest: its due lines become blocked."""
    reason = f"could not ship ({error.__class__.__name__}); see the worker log"
    with transaction.atomic():
        orders = _lock_orders([order_id])
        lines = _locked_lines(orders, lines_query) if orders else []
        for line in lines:
            line.status, line.status_reason = LineStatus.BLOCKED, reason
            line.save(update_fields=["status", "status_reason", "updated_at"])
            audit_event_record(
                actor=actor, action="line.blocked", target=line, message=f"{line} blocked: {reason}"
            )
        _line_events(
            SweepReport(blocked=lines),
            numbers={order.pk: order.order_number for order in orders},
            ssrns={},
            shipped_on=business_today(),
        )
        _lines_count(SweepReport(blocked=lines), now=timezone.now())
    return lines


def order_lines_fulfil_due(
    *, actor, through: datetime.date | None = None, batch_size: int = BATCH_SIZE
) -> SweepReport:
    """Ship every open line due by `through` (default: today in the business time zone).

    Orders are claimed in batches with SELECT ... FOR UPDATE SKIP LOCKED, one transaction per
    batch, so any number of sweeps may run at once and each order ships in exactly one of
    them. A line that cannot ship becomes `blocked` with its reason; when a whole batch
    fails, its orders are tried one by one, so that one bad order holds up nothing else.
    Lines always ship today: the subscription timer starts on the day a line really ships.
    Idempotent: a shipped line is no longer open.
    """
    through = through or business_today()
    shipped_on = business_today()
    lines_query = order_lines_due(through=through)
    report = SweepReport()
    # The sweep walks the orders in key order and visits each once: shipped, blocked, taken
    # by another sweeper, or still waiting for legacy keys (which stays due, and would come
    # round forever if the sweep started from the top again).
    after = 0
    while True:
        candidates = list(
            sales_orders_with_due_lines(through=through)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not candidates:
            break
        try:
            batches = [
                _ship_batch(
                    order_ids=candidates,
                    lines_query=lines_query,
                    shipped_on=shipped_on,
                    actor=actor,
                )
            ]
        except SoftTimeLimitExceeded:
            raise  # the batch rolled back and stays due: the next sweep ships it
        except Exception:
            logger.exception(
                "a batch of %d orders failed; shipping them one by one", len(candidates)
            )
            batches = []
            numbers = dict(
                SalesOrder.objects.filter(pk__in=candidates).values_list("pk", "order_number")
            )
            for order_id in candidates:
                with log_context(order_number=numbers.get(order_id)):
                    try:
                        batches.append(
                            _ship_batch(
                                order_ids=[order_id],
                                lines_query=lines_query,
                                shipped_on=shipped_on,
                                actor=actor,
                            )
                        )
                    except SoftTimeLimitExceeded:
                        raise  # out of time is no fault of the order's: it stays due
                    except Exception as error:
                        logger.exception(
                            "order %s could not ship; its due lines are blocked", order_id
                        )
                        blocked = _block_order_lines(
                            order_id=order_id, lines_query=lines_query, error=error, actor=actor
                        )
                        batches.append(SweepReport(blocked=blocked))
        after = candidates[-1]
        for batch in batches:
            report.shipped += batch.shipped
            report.blocked += batch.blocked
            report.shipments += batch.shipments
            if batch.shipped or batch.blocked:
                logger.info("shipped %d lines, blocked %d", len(batch.shipped), len(batch.blocked))
    return report


def order_lines_ship_now(*, lines: list[OrderLine], actor) -> SweepReport:
    """Ship these open lines today, whatever their requested ship date ("ship now")."""
    with transaction.atomic():
        orders = _lock_orders({line.order_id for line in lines})
        locked = _locked_lines(
            orders,
            OrderLine.objects.filter(pk__in=[line.pk for line in lines], status=LineStatus.OPEN),
        )
        report = _ship_orders(orders=orders, lines=locked, shipped_on=business_today(), actor=actor)
        _after_commit(report)
    return report


def shipment_documents_prepare(*, shipment_id: int) -> list[int]:
    """Render the shipment's certificates that are not ready, then its Fulfillment Email;
    returns the deliveries that can now be sent. Safe to run twice (certificate_render is,
    and an email is rendered once)."""
    certificates = shipment_certificates(shipment_id=shipment_id)
    pending = certificates.filter(
        status__in=[CertificateStatus.QUEUED, CertificateStatus.RENDERING]
    )
    for certificate_id in list(pending.values_list("pk", flat=True)):
        certificate_render(certificate_id=certificate_id)
    if not certificates.exclude(status=CertificateStatus.READY).exists():
        shipment_emails_render(shipment_id=shipment_id)
    return list(
        Delivery.objects.filter(
            kind=DeliveryKind.FULFILLMENT,
            topic=shipment_topic(shipment_id),
            status=DeliveryStatus.QUEUED,
        ).values_list("pk", flat=True)
    )


# Rows handed back to the workers per rescue: a minute's work for a few workers, so that a
# backlog drains over several rescues instead of flooding the broker at once.
RESCUE_BATCH = 500


def queued_work_rescue(
    *, now: datetime.datetime | None = None
) -> tuple[list[int], dict[str, list[int]]]:
    """Find the work no worker is doing: certificates and outgoing messages due for
    (another) attempt, or in flight past their lease (a killed worker, a lost message).

    Returns (shipments whose certificates must be rendered, deliveries to send per
    channel); the caller hands them to the workers again. Certificates go back through their
    shipment, so that its emails follow them. Handing out one twice is harmless (each task
    takes its row under a lease) but costs a task: a queued certificate is handed out again
    only a render lease after it was queued or last handed out (certificate_first_rescue).
    """
    now = now or timezone.now()
    waiting = Q(status=CertificateStatus.QUEUED, next_attempt_at__lte=now)
    stuck = Certificate.objects.filter(
        waiting | Q(status=CertificateStatus.RENDERING, lease_expires_at__lt=now)
    )
    stuck_entitlements = list(stuck.values_list("entitlement_id", flat=True)[:RESCUE_BATCH])
    # The task handed out now may wait its turn behind a backlog: the same certificates are
    # not handed out again each minute meanwhile, only once that task too could be lost. (A
    # certificate being rendered keeps its lease: that is its worker's.)
    Certificate.objects.filter(waiting, entitlement_id__in=stuck_entitlements).update(
        next_attempt_at=certificate_first_rescue(now)
    )
    # The shipments that delivered them: the one that made each, and any that renewed it.
    delivered = shipment_entitlements(entitlement_ids=stuck_entitlements)
    shipments = sorted({item.shipment_id for item in delivered})
    deliveries = deliveries_due(now=now, limit=RESCUE_BATCH)
    return shipments, deliveries
