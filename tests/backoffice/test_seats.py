"""The admin's Seats page: every account's seats, filtered, paged, exported, for both roles."""

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.backoffice.seats import ACCOUNTS_PER_PAGE
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account

pytestmark = pytest.mark.django_db
SEATS = reverse("admin:seats")


def _staff(client, role=None):
    user = UserFactory(is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("role", [CUSTOMER_CARE, OPERATIONS])
def test_customer_care_and_operations_read_every_accounts_seats(client, role):
    one, two, product = new_account(), new_account(), ProductFactory(name="Flight planner")
    ActivationFactory(entitlement=entitlement_of(one, product=product, quantity=5))
    entitlement_of(two, product=product, quantity=3)

    page = _staff(client, role).get(SEATS)

    assert page.status_code == 200
    rows = page.context["rows"]
    assert [(r.account_id, r.owned, r.used, r.free) for r in rows] == [
        (one.account_id, 5, 1, 4),
        (two.account_id, 3, 0, 3),
    ]
    assert "Flight planner" in page.content.decode()


def test_staff_without_a_role_and_visitors_are_refused(client):
    assert client.get(SEATS).status_code == 302  # to the admin's login
    assert _staff(client).get(SEATS).status_code == 403
    assert client.get(SEATS, {"format": "csv"}).status_code == 403


def test_filters_by_account_id_and_product_and_exports_the_filtered_rows(client):
    wanted = new_account(account_id="0123400001")
    also = new_account(account_id="0123400002")
    other = new_account(account_id="0999900001")
    product, another = ProductFactory(), ProductFactory()
    for account in (wanted, also, other):
        entitlement_of(account, product=product, quantity=2)
        entitlement_of(account, product=another, quantity=7)
    care = _staff(client, CUSTOMER_CARE)

    by_start = care.get(SEATS, {"q": " 012340 "}).context["rows"]
    assert {r.account_id for r in by_start} == {wanted.account_id, also.account_id}
    exact = care.get(SEATS, {"q": wanted.account_id, "product": another.sku}).context["rows"]
    assert [(r.account_id, r.product_sku, r.owned) for r in exact] == [
        (wanted.account_id, another.sku, 7)
    ]

    exported = _csv(care.get(SEATS, {"q": "012340", "product": product.sku, "format": "csv"}))
    assert exported[0] == [
        "Account ID",
        "Account",
        "SKU",
        "Product",
        "Seats owned",
        "Seats used",
        "Seats free",
    ]
    assert [(row[0], row[2], row[4]) for row in exported[1:]] == [
        (wanted.account_id, product.sku, "2"),
        (also.account_id, product.sku, "2"),
    ]


def test_a_bad_filter_shows_no_rows_and_says_why(client):
    entitlement_of(new_account(), quantity=2)
    care = _staff(client, OPERATIONS)

    for query in (
        {"q": "abc"},
        {"q": "1" * 5000},
        {"q": "01\x00"},
        {"product": "NO-SUCH-SKU"},
        {"product": "' OR 1=1 --"},
    ):
        page = care.get(SEATS, query)
        assert page.status_code == 200, query
        assert page.context["rows"] == [], query
        assert "errornote" in page.content.decode(), query
        assert _csv(care.get(SEATS, {**query, "format": "csv"}))[1:] == [], query


def test_the_csv_writes_no_cell_a_spreadsheet_would_run(client):
    evil = new_account(name='=HYPERLINK("http://evil.example")')
    entitlement_of(evil, product=ProductFactory(name="+cmd|' /C calc'!A0"), quantity=1)

    rows = _csv(_staff(client, CUSTOMER_CARE).get(SEATS, {"format": "csv"}))

    assert rows[1][1] == '\'=HYPERLINK("http://evil.example")'
    assert rows[1][3] == "'+cmd|' /C calc'!A0"


def test_pages_go_by_account_and_the_csv_holds_every_page(client):
    accounts = [new_account() for _ in range(ACCOUNTS_PER_PAGE + 3)]
    for account in accounts:
        entitlement_of(account, quantity=1)
    care = _staff(client, CUSTOMER_CARE)

    first, second = care.get(SEATS), care.get(SEATS, {"page": "2"})

    assert len(first.context["rows"]) == ACCOUNTS_PER_PAGE and len(second.context["rows"]) == 3
    assert first.context["next_page"] == 2 and second.context["next_page"] is None
    assert second.context["previous_page"] == 1
    # Digits of other scripts ("²", "١") are digits to str.isdigit() but not to int().
    for bad in ("0", "-1", "x", "9" * 40, "²", "١٢", "1²"):
        assert care.get(SEATS, {"page": bad}).context["page_number"] == 1
    assert care.get(SEATS, {"page": "7"}).context["rows"] == []
    assert len(_csv(care.get(SEATS, {"format": "csv"}))) == len(accounts) + 1


def test_the_page_runs_the_same_queries_for_many_rows(client, django_assert_max_num_queries):
    for _ in range(8):
        account = new_account()
        for _ in range(3):
            ActivationFactory(entitlement=entitlement_of(account, quantity=2))
    care = _staff(client, CUSTOMER_CARE)
    care.get(SEATS)

    with django_assert_max_num_queries(12):
        assert care.get(SEATS).status_code == 200
