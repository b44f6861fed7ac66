"""An order edited in the admin is saved by the orders service, with its rules and its
audit event: a shipped line is final, recipients change only for staff who see codes."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.backoffice.roles import OPERATIONS
from apps.core.models import AuditEvent
from apps.entitlements.models import Entitlement
from apps.fulfillment.services import order_lines_ship_now
from apps.orders.models import LineStatus, OrderLine
from tests.admin_forms import admin_form_data
from tests.factories.accounts import AccountFactory, UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import EntitlementAccountFactory
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db

LATER = today() + datetime.timedelta(days=10)


def _order_page(order):
    return reverse("admin:orders_salesorder_change", args=[order.pk])


def _line_index(data: dict, line: OrderLine) -> int:
    return next(
        int(key.split("-")[1])
        for key, value in data.items()
        if key.startswith("lines-") and key.endswith("-id") and value == str(line.pk)
    )


def test_a_shipped_line_keeps_its_quantity_and_date_whatever_the_order_page_posts(
    admin_client, admin_user
):
    order = order_with_lines(dates=[today()])
    line = order.lines.get()
    order_lines_ship_now(lines=[line], actor=admin_user)
    page = admin_client.get(_order_page(order))
    data = admin_form_data(page)
    index = _line_index(data, line)
    # What a browser with the fields re-enabled would send.
    data[f"lines-{index}-quantity"] = "50"
    data[f"lines-{index}-requested_ship_date"] = LATER.isoformat()
    data[f"lines-{index}-line_number"] = "1"
    data[f"lines-{index}-product"] = str(line.product_id)

    admin_client.post(_order_page(order), data)

    line.refresh_from_db()
    assert (line.quantity, line.requested_ship_date) == (2, today())
    assert Entitlement.objects.get(order_line=line).quantity == 2
    assert not AuditEvent.objects.filter(action="order.updated").exists()
    text = page.content.decode()
    assert "no longer change" in text  # the page says why
    assert f'name="lines-{index}-quantity"' not in text or "disabled" in text


def test_a_shipped_lines_own_page_is_read_only_and_says_why(admin_client, admin_user):
    order = order_with_lines(dates=[today()])
    line = order.lines.get()
    order_lines_ship_now(lines=[line], actor=admin_user)
    url = reverse("admin:orders_orderline_change", args=[line.pk])

    page = admin_client.get(url)
    admin_client.post(
        url,
        {
            "product": line.product_id,
            "quantity": 50,
            "requested_ship_date": LATER.isoformat(),
            "renews_ssrn": "",
        },
    )

    line.refresh_from_db()
    assert (line.quantity, line.requested_ship_date) == (2, today())
    assert 'name="quantity"' not in page.content.decode()
    assert "it no longer changes" in page.content.decode()


def test_an_open_line_changed_on_the_order_page_is_audited_with_old_and_new_values(
    admin_client, admin_user
):
    order = order_with_lines(dates=[today(), LATER])
    first, second = order.lines.order_by("line_number")
    order_lines_ship_now(lines=[first], actor=admin_user)
    data = admin_form_data(admin_client.get(_order_page(order)))
    index = _line_index(data, second)
    data[f"lines-{index}-quantity"] = "5"

    response = admin_client.post(_order_page(order), data)

    assert response.status_code == 302
    second.refresh_from_db()
    assert second.quantity == 5
    event = AuditEvent.objects.get(action="order.updated")
    assert event.actor == admin_user
    assert event.data == {
        "lines_changed": [{"line_number": 2, "changes": {"quantity": {"old": 2, "new": 5}}}]
    }


def test_a_change_the_service_refuses_comes_back_with_its_reason_and_writes_nothing(
    admin_client,
):
    # A renewal of another end customer's subscription: the API refuses it at intake.
    other = EntitlementAccountFactory(
        role="end_customer", entitlement__order_line__product__subscription=True
    ).entitlement
    renewal = ProductFactory(subscription=True, renews=other.product)
    order = order_with_lines(dates=[LATER], product=renewal)
    line = order.lines.get()
    OrderLine.objects.filter(pk=line.pk).update(renews_ssrn="")
    data = admin_form_data(admin_client.get(_order_page(order)))
    data[f"lines-{_line_index(data, line)}-renews_ssrn"] = other.ssrn

    response = admin_client.post(_order_page(order), data)

    assert response.status_code == 200
    assert "belongs to another end customer" in response.content.decode()
    assert "line 1.renews_ssrn" in response.content.decode()
    line.refresh_from_db()
    assert line.renews_ssrn == ""
    assert not AuditEvent.objects.filter(action="order.updated").exists()


def test_recipients_of_a_shipped_order_are_read_only_for_everyone(admin_client, admin_user):
    order = order_with_lines(dates=[today(), LATER])
    order_lines_ship_now(lines=[order.lines.get(line_number=1)], actor=admin_user)

    text = admin_client.get(_order_page(order)).content.decode()

    assert 'name="emails-0-email"' not in text
    assert 'name="order_accounts-0-account"' not in text


def test_operations_creates_an_order_in_the_admin_through_the_service(client):
    ops = UserFactory(is_staff=True)
    ops.groups.add(Group.objects.get(name=OPERATIONS))
    client.force_login(ops)
    product = ProductFactory()
    account = AccountFactory()
    url = reverse("admin:orders_salesorder_add")
    data = admin_form_data(client.get(url))
    data.update(
        {
            "order_number": "SO-ADMIN-1",
            "language": "de",
            "order_accounts-TOTAL_FORMS": "1",
            "order_accounts-0-account": str(account.pk),
            "order_accounts-0-role": "end_customer",
            "emails-TOTAL_FORMS": "1",
            "emails-0-email": "buyer@example.com",
            "lines-TOTAL_FORMS": "1",
            "lines-0-line_number": "1",
            "lines-0-product": str(product.pk),
            "lines-0-quantity": "3",
            "lines-0-requested_ship_date": LATER.isoformat(),
            "lines-0-renews_ssrn": "",
        }
    )

    response = client.post(url, data)

    assert response.status_code == 302, response.context["errors"]
    line = OrderLine.objects.get(order__order_number="SO-ADMIN-1")
    assert (line.quantity, line.status) == (3, LineStatus.OPEN)
    event = AuditEvent.objects.get(action="order.created")
    assert event.actor == ops
    assert event.data["emails_added"] == ["buyer@example.com"]
    assert event.data["accounts_added"] == [
        {"account_id": account.account_id, "role": "end_customer"}
    ]
