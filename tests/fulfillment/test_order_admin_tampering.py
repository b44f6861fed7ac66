"""Operations cannot change what has shipped, nor who receives an order's codes, by posting
an order's or a line's page other than the page offers (extra or missing rows, changed
hidden ids, deleted rows), and bad values come back as errors, not as a server error."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.backoffice.roles import OPERATIONS
from apps.fulfillment.services import order_lines_ship_now
from apps.orders.models import SalesOrder
from tests.admin_forms import admin_form_data
from tests.factories.accounts import AccountFactory, UserFactory
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db

LATER = today() + datetime.timedelta(days=10)


@pytest.fixture
def ops(client):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATIONS))
    client.force_login(user)
    return user


def _page(order):
    return reverse("admin:orders_salesorder_change", args=[order.pk])


def _state(order):
    order.refresh_from_db()
    return (
        order.language,
        sorted(order.emails.values_list("email", flat=True)),
        sorted(order.order_accounts.values_list("account_id", "role")),
        sorted(
            order.lines.values_list(
                "line_number", "product_id", "quantity", "requested_ship_date", "status"
            )
        ),
    )


def _line_index(data, line):
    return next(
        int(key.split("-")[1])
        for key, value in data.items()
        if key.startswith("lines-") and key.endswith("-id") and value == str(line.pk)
    )


def test_operations_posting_no_recipient_rows_leaves_accounts_and_addresses(client, ops):
    order = order_with_lines(dates=[LATER])
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    data.update({"emails-TOTAL_FORMS": "0", "emails-INITIAL_FORMS": "0"})
    data.update({"order_accounts-TOTAL_FORMS": "0", "order_accounts-INITIAL_FORMS": "0"})
    response = client.post(_page(order), data)
    assert response.status_code in (200, 302)
    assert _state(order) == before


def test_operations_posting_an_extra_address_row_adds_nothing(client, ops):
    order = order_with_lines(dates=[LATER])
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    n = int(data["emails-TOTAL_FORMS"])
    data.update(
        {
            "emails-TOTAL_FORMS": str(n + 1),
            f"emails-{n}-email": "thief@example.com",
            f"emails-{n}-order": str(order.pk),
        }
    )
    response = client.post(_page(order), data)
    assert response.status_code in (200, 302)
    assert _state(order) == before


def test_operations_changing_or_deleting_an_address_row_changes_nothing(client, ops):
    order = order_with_lines(dates=[LATER])
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    data["emails-0-email"] = "thief@example.com"
    data["emails-0-DELETE"] = "on"
    response = client.post(_page(order), data)
    assert response.status_code in (200, 302)
    assert _state(order) == before


def test_operations_pointing_an_address_row_at_another_orders_changes_neither(client, ops):
    order = order_with_lines(dates=[LATER])
    other = order_with_lines(dates=[LATER], emails=("thief@example.com",))
    before, other_before = _state(order), _state(other)
    data = admin_form_data(client.get(_page(order)))
    data["emails-0-id"] = str(other.emails.get().pk)
    response = client.post(_page(order), data)
    assert response.status_code in (200, 302)
    assert _state(order) == before
    assert _state(other) == other_before


def test_operations_swapping_line_ids_cannot_change_a_shipped_line(client, ops, admin_user):
    order = order_with_lines(dates=[today(), LATER])
    first, second = order.lines.order_by("line_number")
    order_lines_ship_now(lines=[first], actor=admin_user)
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    i, j = _line_index(data, first), _line_index(data, second)
    # The open line's editable fields, posted under the shipped line's id.
    data[f"lines-{j}-id"] = str(first.pk)
    data[f"lines-{j}-quantity"] = "50"
    data[f"lines-{i}-id"] = str(second.pk)
    response = client.post(_page(order), data)
    assert response.status_code in (200, 302)
    after = _state(order)
    assert after[3][0] == before[3][0]


def test_operations_cannot_post_a_shipped_line_again_as_a_new_one(client, ops, admin_user):
    order = order_with_lines(dates=[today(), LATER])
    first = order.lines.get(line_number=1)
    order_lines_ship_now(lines=[first], actor=admin_user)
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    i = _line_index(data, first)
    data[f"lines-{i}-id"] = ""
    data[f"lines-{i}-line_number"] = "1"
    data[f"lines-{i}-product"] = str(first.product_id)
    data[f"lines-{i}-quantity"] = "40"
    data[f"lines-{i}-requested_ship_date"] = LATER.isoformat()
    data[f"lines-{i}-renews_ssrn"] = ""
    response = client.post(_page(order), data)
    assert response.status_code in (200, 302)
    assert _state(order) == before


def test_operations_cannot_change_the_language_of_a_shipped_order(client, ops, admin_user):
    order = order_with_lines(dates=[today()])
    order_lines_ship_now(lines=list(order.lines.all()), actor=admin_user)
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    data["language"] = "de"
    response = client.post(_page(order), data)
    assert response.status_code == 200
    assert _state(order) == before


def test_operations_cannot_reuse_an_order_number_on_the_add_page(client, ops):
    order = order_with_lines(dates=[LATER])
    before = _state(order)
    url = reverse("admin:orders_salesorder_add")
    data = admin_form_data(client.get(url))
    data.update(
        {
            "order_number": order.order_number,
            "language": "en",
            "order_accounts-TOTAL_FORMS": "1",
            "order_accounts-0-account": str(AccountFactory().pk),
            "order_accounts-0-role": "end_customer",
            "emails-TOTAL_FORMS": "1",
            "emails-0-email": "thief@example.com",
            "lines-TOTAL_FORMS": "1",
            "lines-0-line_number": "1",
            "lines-0-product": str(order.lines.get().product_id),
            "lines-0-quantity": "3",
            "lines-0-requested_ship_date": LATER.isoformat(),
            "lines-0-renews_ssrn": "",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert _state(order) == before


def test_operations_cannot_add_a_line_with_a_shipped_lines_number(client, ops, admin_user):
    order = order_with_lines(dates=[today()])
    line = order.lines.get()
    order_lines_ship_now(lines=[line], actor=admin_user)
    before = _state(order)
    url = reverse("admin:orders_orderline_add")
    response = client.post(
        url,
        {
            "order": order.pk,
            "line_number": 1,
            "product": line.product_id,
            "quantity": 9,
            "requested_ship_date": LATER.isoformat(),
            "renews_ssrn": "",
        },
    )
    assert response.status_code == 200
    assert _state(order) == before


def test_operations_cannot_move_a_line_to_another_order(client, ops):
    order = order_with_lines(dates=[LATER])
    other = order_with_lines(dates=[LATER, LATER])
    line = order.lines.get()
    url = reverse("admin:orders_orderline_change", args=[line.pk])
    before, other_before = _state(order), _state(other)
    response = client.post(
        url,
        {
            "order": other.pk,
            "line_number": 7,
            "product": line.product_id,
            "quantity": line.quantity,
            "requested_ship_date": LATER.isoformat(),
            "renews_ssrn": "",
        },
    )
    assert response.status_code in (200, 302)
    assert _state(order) == before and _state(other) == other_before


@pytest.mark.parametrize(
    "field,value",
    [
        ("quantity", "99999999999999999999"),
        ("quantity", "100001"),
        ("quantity", "-1"),
        ("requested_ship_date", "2026-13-45"),
        ("requested_ship_date", "99999-01-01"),
        ("renews_ssrn", "x" * 500),
        ("renews_ssrn", "ab\x00cd"),
        ("renews_ssrn", "ab\x07cd"),
        ("line_number", "99999999999"),
        ("line_number", "0"),
    ],
)
def test_bad_line_values_on_the_order_page_are_errors_and_write_nothing(client, ops, field, value):
    order = order_with_lines(dates=[LATER])
    before = _state(order)
    data = admin_form_data(client.get(_page(order)))
    n = int(data["lines-TOTAL_FORMS"])
    row = {
        "line_number": "2",
        "product": str(order.lines.get().product_id),
        "quantity": "1",
        "requested_ship_date": LATER.isoformat(),
        "renews_ssrn": "",
    }
    row[field] = value
    data["lines-TOTAL_FORMS"] = str(n + 1)
    data.update({f"lines-{n}-{k}": v for k, v in row.items()})
    response = client.post(_page(order), data)
    assert response.status_code == 200
    assert _state(order) == before


@pytest.mark.parametrize(
    "field,value",
    [
        ("quantity", "99999999999999999999"),
        ("requested_ship_date", "2026-02-30"),
        ("renews_ssrn", "ab\x00cd"),
    ],
)
def test_bad_values_on_a_lines_page_are_errors_and_write_nothing(client, ops, field, value):
    order = order_with_lines(dates=[LATER])
    line = order.lines.get()
    before = _state(order)
    row = {
        "product": str(line.product_id),
        "quantity": "1",
        "requested_ship_date": LATER.isoformat(),
        "renews_ssrn": "",
    }
    row[field] = value
    response = client.post(reverse("admin:orders_orderline_change", args=[line.pk]), row)
    assert response.status_code == 200
    assert _state(order) == before


@pytest.mark.parametrize("order_number", ["SO\x00X", "SO\x07X", "x" * 100, "so 1"])
def test_bad_order_numbers_on_the_add_page_are_errors_and_write_nothing(client, ops, order_number):
    product, account = ProductFactory(), AccountFactory()
    url = reverse("admin:orders_salesorder_add")
    data = admin_form_data(client.get(url))
    data.update(
        {
            "order_number": order_number,
            "language": "en",
            "order_accounts-TOTAL_FORMS": "1",
            "order_accounts-0-account": str(account.pk),
            "order_accounts-0-role": "end_customer",
            "emails-TOTAL_FORMS": "1",
            "emails-0-email": "a@example.com",
            "lines-TOTAL_FORMS": "1",
            "lines-0-line_number": "1",
            "lines-0-product": str(product.pk),
            "lines-0-quantity": "3",
            "lines-0-requested_ship_date": LATER.isoformat(),
            "lines-0-renews_ssrn": "",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert not SalesOrder.objects.exists()
