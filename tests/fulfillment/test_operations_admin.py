import datetime

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements.models import Certificate
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.models import LineStatus, OrderLine
from apps.outbox.models import Delivery
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db(transaction=True)
LINES = reverse("admin:orders_orderline_changelist")


def act(client, url, action, objects, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [o.pk for o in objects], **extra}
    return client.post(url, data, follow=True)


def test_operations_hold_release_cancel_and_ship_now_with_an_audit_trail(
    admin_client, admin_user, smtp
):
    order = order_with_lines(dates=[today() + datetime.timedelta(days=5)] * 3)
    first, second, third = order.lines.order_by("line_number")

    page = act(admin_client, LINES, "hold", [first])
    assert "Reason" in page.content.decode()  # asks before it acts
    act(admin_client, LINES, "hold", [first], confirm="yes", reason="credit check")
    act(admin_client, LINES, "cancel", [second], confirm="yes", reason="ordered twice")
    act(admin_client, LINES, "ship_now", [third])

    first.refresh_from_db(), second.refresh_from_db(), third.refresh_from_db()
    assert (first.status, first.status_reason) == (LineStatus.ON_HOLD, "credit check")
    assert second.status == LineStatus.CANCELLED
    assert third.status == LineStatus.FULFILLED and third.entitlement.starts_on == today()
    assert len(smtp.messages) == 1

    act(admin_client, LINES, "release", [first, second])
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == LineStatus.OPEN and second.status == LineStatus.CANCELLED
    events = AuditEvent.objects.filter(target_type="orders.orderline", actor=admin_user)
    assert set(events.values_list("action", flat=True)) == {
        "line.hold",
        "line.cancel",
        "line.fulfilled",
        "line.release",
    }


def test_due_lines_are_listed_as_due_today_and_overdue(admin_client):
    order = order_with_lines(
        dates=[today(), today() - datetime.timedelta(days=1), today() + datetime.timedelta(days=1)]
    )

    due_today = admin_client.get(LINES, {"due": "today"}).content.decode()
    overdue = admin_client.get(LINES, {"due": "overdue"}).content.decode()

    assert f"{order.order_number}/1" in due_today and f"{order.order_number}/2" not in due_today
    assert f"{order.order_number}/2" in overdue and f"{order.order_number}/1" not in overdue


def test_customer_care_resends_an_email_with_a_reason_and_the_order_shows_every_email(
    admin_client, smtp
):
    order = order_with_lines(dates=[today()], emails=["buyer@northwind.example"])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    delivery = Delivery.objects.get()

    act(
        admin_client,
        reverse("admin:outbox_delivery_changelist"),
        "resend",
        [delivery],
        confirm="yes",
        reason="lost in spam",
    )

    assert Delivery.objects.filter(resend_of=delivery, reason="lost in spam").count() == 1
    assert len(smtp.to("buyer@northwind.example")) == 2
    page = admin_client.get(
        reverse("admin:orders_salesorder_change", args=[order.pk])
    ).content.decode()
    assert page.count("buyer@northwind.example") >= 2 and "Sent" in page


def test_a_reissued_certificate_is_downloaded_by_staff_only(admin_client, client, smtp):
    order_with_lines(dates=[today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = OrderLine.objects.get().entitlement

    act(
        admin_client,
        reverse("admin:entitlements_entitlement_changelist"),
        "reissue_certificates",
        [entitlement],
        confirm="yes",
        reason="name corrected",
    )

    newest = Certificate.objects.filter(entitlement=entitlement).order_by("-version").first()
    assert newest.version == 2 and newest.status == "ready"
    url = reverse("admin:entitlements_certificate_download", args=[newest.pk])
    response = admin_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert client.get(url).status_code == 302  # to the login
    assert client.get("/media/" + newest.file.name).status_code == 404  # no public URL
