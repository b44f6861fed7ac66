import datetime
import threading
from collections import Counter

import pytest
from django.db import connection

from apps.accounts.models import Account
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements.models import Certificate, Entitlement
from apps.fulfillment import services
from apps.orders.models import (
    AccountRole,
    LineStatus,
    OrderAccount,
    OrderEmail,
    OrderLine,
    SalesOrder,
)
from apps.outbox.models import Delivery
from tests.factories.catalog import ProductFactory

ORDERS, LINES_PER_ORDER = 250, 4


def _due_orders():
    product = ProductFactory(subscription=True)
    customer = Account.objects.create(account_id="0100012345", name="Northwind")
    orders = SalesOrder.objects.bulk_create(
        SalesOrder(order_number=f"C{n:05d}") for n in range(ORDERS)
    )
    OrderAccount.objects.bulk_create(
        OrderAccount(order=o, account=customer, role=AccountRole.END_CUSTOMER) for o in orders
    )
    OrderEmail.objects.bulk_create(
        OrderEmail(order=o, email=f"buyer{o.pk}@example.com") for o in orders
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=o,
            line_number=n,
            product=product,
            quantity=1,
            requested_ship_date=datetime.date.today() - datetime.timedelta(days=n),
        )
        for o in orders
        for n in range(1, LINES_PER_ORDER + 1)
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_ship_every_line_exactly_once(monkeypatch):
    _due_orders()
    woken = Counter()
    monkeypatch.setattr(
        services, "_after_commit", lambda report: woken.update(report.shipments)
    )  # the broker is not under test here: the claiming is
    start = threading.Barrier(2)
    reports, errors = [], []

    def sweep():
        try:
            start.wait()
            # Small batches, so that the two sweeps really interleave.
            reports.append(
                services.order_lines_fulfil_due(batch_size=10, actor=Job("fulfil_due_task"))
            )
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    total = ORDERS * LINES_PER_ORDER
    shipped = [line.pk for report in reports for line in report.shipped]
    assert len(shipped) == len(set(shipped)) == total
    assert all(len(report.shipped) > 0 for report in reports), (
        "both sweeps should have shipped some"
    )
    assert OrderLine.objects.filter(status=LineStatus.FULFILLED).count() == total
    assert Entitlement.objects.count() == Certificate.objects.count() == total
    assert AuditEvent.objects.filter(action="line.fulfilled").count() == total
    # Each order shipped once, in one shipment, with one email per address.
    assert Delivery.objects.count() == ORDERS
    assert set(woken.values()) == {1} and len(woken) == ORDERS
    assert SalesOrder.objects.filter(shipments__isnull=False).distinct().count() == ORDERS
