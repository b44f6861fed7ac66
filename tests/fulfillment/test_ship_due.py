"""The sweep ships due lines into entitlements, certificates and one email per recipient."""

import datetime
import io

import pytest
import time_machine
from pypdf import PdfReader

from apps.core.actors import Job
from apps.entitlements.models import CertificateStatus, Entitlement
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.models import LineStatus, OrderLine
from apps.orders.services import order_lines_transition
from apps.outbox.models import Delivery, DeliveryStatus
from tests.factories.accounts import UserFactory
from tests.fulfillment.helpers import order_with_lines

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
TODAY = NOW.date()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@time_machine.travel(NOW, tick=False)
def test_a_due_order_reaches_every_address_once_with_its_certificates(smtp):
    order = order_with_lines(
        dates=[TODAY, TODAY - datetime.timedelta(days=2), TODAY + datetime.timedelta(days=1)],
        emails=["buyer@northwind.example", "ops@blueharbor.example"],
    )

    report = order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    lines = list(order.lines.order_by("line_number"))
    assert [line.status for line in lines] == [
        LineStatus.FULFILLED,
        LineStatus.FULFILLED,
        LineStatus.OPEN,
    ]
    assert len(report.shipped) == 2 and len(report.shipments) == 1
    entitlements = list(Entitlement.objects.order_by("order_line__line_number"))
    assert {e.certificates.get().status for e in entitlements} == {CertificateStatus.READY}
    # One email per recipient for the shipment, both lines in it.
    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == [
        "buyer@northwind.example",
        "ops@blueharbor.example",
    ]
    message = smtp.to("buyer@northwind.example")[0]
    assert order.order_number in message["Subject"] and "Threat Defense" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for entitlement in entitlements:
        for body in (text, html):
            assert entitlement.ssrn in body
            assert entitlement.activation_code in body
    for body in (text, html):
        assert "Threat Defense" in body and "Intrusion prevention for one gateway." in body
        assert "https://docs.keyship.example/licenses/generic" in body
        assert "Dec. 1, 2026" in body  # start
        assert "Dec. 1, 2027" in body  # term end: 12 months
        assert "Dec. 31, 2027" in body  # grace end: 30 days more for an initial subscription
        for role in order.order_accounts.all():
            assert role.account.account_id in body
    attachments = list(message.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf", "application/pdf"]
    for entitlement, attachment in zip(entitlements, attachments, strict=True):
        assert (
            attachment.get_filename() == f"Keyship-Entitlement-Certificate-{entitlement.ssrn}.pdf"
        )
        words = pdf_text(attachment.get_content())
        assert entitlement.ssrn in words and entitlement.activation_code in words
        assert "Northwind Networks" in words
    deliveries = list(Delivery.objects.all())
    assert {d.status for d in deliveries} == {DeliveryStatus.SENT}
    assert (
        message["Message-ID"]
        == Delivery.objects.get(recipient="buyer@northwind.example").message_id
    )


@time_machine.travel(NOW, tick=False)
def test_a_second_sweep_ships_nothing_again(smtp):
    order_with_lines(dates=[TODAY])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    report = order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    assert report.shipped == [] and Entitlement.objects.count() == 1 and len(smtp.messages) == 1


@time_machine.travel(NOW, tick=False)
def test_lines_on_hold_or_cancelled_wait(smtp):
    order = order_with_lines(dates=[TODAY, TODAY])
    OrderLine.objects.filter(order=order, line_number=1).update(status=LineStatus.ON_HOLD)
    OrderLine.objects.filter(order=order, line_number=2).update(status=LineStatus.CANCELLED)

    assert order_lines_fulfil_due(actor=Job("fulfil_due_task")).shipped == []
    assert smtp.messages == []


@time_machine.travel(NOW, tick=False)
def test_a_line_that_cannot_ship_is_blocked_with_its_reason_and_the_rest_ship(smtp):
    retired = order_with_lines(dates=[TODAY])
    product = retired.lines.get().product
    product.is_active = False
    product.save()
    fine = order_with_lines(dates=[TODAY])

    report = order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    line = retired.lines.get()
    assert line.status == LineStatus.BLOCKED
    assert line.status_reason == f'product "{product.sku}" is no longer sold'
    assert fine.lines.get().status == LineStatus.FULFILLED
    assert [blocked.pk for blocked in report.blocked] == [line.pk]
    # Blocked lines are not retried forever: the next sweep leaves them alone.
    assert order_lines_fulfil_due(actor=Job("fulfil_due_task")).blocked == []
    # A fix plus "release" ships it on the next sweep.
    product.is_active = True
    product.save()
    order_lines_transition(line_ids=[line.pk], action="release", actor=UserFactory(is_staff=True))
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    assert retired.lines.get().status == LineStatus.FULFILLED


@time_machine.travel(NOW, tick=False)
def test_an_order_that_breaks_its_batch_is_kept_apart(smtp, monkeypatch):
    from apps.fulfillment import services

    bad = order_with_lines(dates=[TODAY])
    good = order_with_lines(dates=[TODAY])
    real = services._ship_orders

    def ship_orders(*, orders, **kwargs):
        if any(order.pk == bad.pk for order in orders):
            raise RuntimeError("simulated bug")
        return real(orders=orders, **kwargs)

    monkeypatch.setattr(services, "_ship_orders", ship_orders)

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    assert good.lines.get().status == LineStatus.FULFILLED
    assert bad.lines.get().status == LineStatus.BLOCKED
    assert "RuntimeError" in bad.lines.get().status_reason
    assert Entitlement.objects.filter(order_line__order=bad).count() == 0


@pytest.mark.parametrize(
    ("zone", "moment", "due"),
    [
        (
            "America/Los_Angeles",
            "2026-12-01T07:59:59+00:00",
            False,
        ),  # 23:59:59 on 30 November there
        ("America/Los_Angeles", "2026-12-01T08:00:00+00:00", True),  # midnight of 1 December there
        ("Asia/Tokyo", "2026-11-30T14:59:59+00:00", False),
        ("Asia/Tokyo", "2026-11-30T15:00:00+00:00", True),
        ("UTC", "2026-11-30T23:59:59+00:00", False),
        ("UTC", "2026-12-01T00:00:00+00:00", True),
    ],
)
def test_a_line_is_due_once_its_ship_date_has_begun_in_the_business_time_zone(
    settings, smtp, zone, moment, due
):
    settings.FULFILLMENT_TIME_ZONE = zone
    order = order_with_lines(dates=[datetime.date(2026, 12, 1)])

    with time_machine.travel(datetime.datetime.fromisoformat(moment), tick=False):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    line = order.lines.get()
    assert (line.status == LineStatus.FULFILLED) is due
    if due:
        assert line.entitlement.starts_on == datetime.date(2026, 12, 1)
