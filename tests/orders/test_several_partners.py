"""An order names one sold-to and one end customer, and as many partners and distributors as
the ERP sends: each of them sees what the order ships; the certificate names the end customer."""

import datetime
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from pypdf import PdfReader

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.csv_file import orders_document_from_csv
from apps.orders.models import AccountRole, SalesOrder
from tests.api.conftest import api, order_body
from tests.factories.accounts import AccountFactory
from tests.factories.catalog import ProductFactory
from tests.factories.orders import OrderAccountFactory, SalesOrderFactory
from tests.portal.helpers import portal_contact

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
ACCOUNTS = [
    {"account_id": "0100012345", "name": "Northwind Networks", "role": "end_customer"},
    {"account_id": "0500000001", "name": "Northwind Purchasing", "role": "sold_to"},
    {"account_id": "0200054321", "name": "Blue Harbor Integrators", "role": "partner"},
    {"account_id": "0200067890", "name": "Lakeside Systems", "role": "partner"},
    {"account_id": "0300077777", "name": "Meridian Distribution", "role": "distributor"},
    {"account_id": "0300088888", "name": "Southern Cross Supply", "role": "distributor"},
]


def _erp():
    return api(scopes=["orders:write", "orders:read"], name="erp")


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_each_partner_and_distributor_of_an_order_sees_what_it_ships(client, smtp):
    # Given an order from the ERP with two partners and two distributors, due today
    ProductFactory(sku="KS-TD-1Y", name="Threat Defense", subscription=True)
    body = order_body(
        accounts=ACCOUNTS,
        lines=[
            {
                "line_number": 1,
                "sku": "KS-TD-1Y",
                "quantity": 1,
                "requested_ship_date": "2026-12-01",
            }
        ],
    )
    response = _erp().post("/api/v1/orders/", body, format="json")
    assert response.status_code == 201, response.json()
    assert sorted((a["account_id"], a["role"]) for a in response.json()["accounts"]) == sorted(
        (a["account_id"], a["role"]) for a in ACCOUNTS
    )

    # When the sweep ships it
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    # Then the contacts of each partner and distributor see the entitlement in the portal
    entitlement = SalesOrder.objects.get(order_number="SO-4711").lines.get().entitlement
    order = SalesOrder.objects.get(order_number="SO-4711")
    for row in order.order_accounts.exclude(role=AccountRole.SOLD_TO):
        client.force_login(portal_contact(row.account).user)
        assert entitlement.ssrn in client.get(reverse("portal:entitlements")).content.decode()
    # ...the email lists every account ID
    message = smtp.to("buyer@northwind.example")[0]
    text = message.get_body(("plain",)).get_content()
    for account in ACCOUNTS:
        assert account["account_id"] in text
    # ...and the certificate names the end customer as the holder and lists the others
    words = _pdf_text(next(message.iter_attachments()).get_content())
    holder = words.split("End customer", 1)[1].split("\n", 1)[0]
    assert "Northwind Networks" in holder
    for account in ACCOUNTS[2:]:
        assert f"{account['name']} ({account['account_id']})" in words


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accounts, error",
    [
        (
            [ACCOUNTS[0], ACCOUNTS[2], {**ACCOUNTS[3], "role": "end_customer"}],
            "accounts[2].role: an order has one end_customer account; accounts[0] is already "
            "its end_customer",
        ),
        (
            [ACCOUNTS[0], ACCOUNTS[1], {**ACCOUNTS[2], "role": "sold_to"}],
            "accounts[2].role: an order has one sold_to account; accounts[1] is already "
            "its sold_to",
        ),
        (
            [ACCOUNTS[0], ACCOUNTS[2], ACCOUNTS[3], ACCOUNTS[2]],
            "accounts[3].account_id: 0200054321 is already a partner in accounts[1]",
        ),
    ],
)
def test_one_end_customer_one_sold_to_and_each_account_once_per_role(products, accounts, error):
    response = _erp().post("/api/v1/orders/", order_body(accounts=accounts), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [error]
    assert not SalesOrder.objects.exists()


@pytest.mark.django_db
def test_the_same_account_may_be_sold_to_and_partner(products):
    accounts = [ACCOUNTS[0], {**ACCOUNTS[2], "role": "sold_to"}, ACCOUNTS[2]]

    response = _erp().post("/api/v1/orders/", order_body(accounts=accounts), format="json")

    assert response.status_code == 201, response.json()
    assert len(response.json()["accounts"]) == 3


@pytest.mark.django_db
def test_the_database_holds_one_end_customer_and_one_sold_to_but_many_partners():
    order = SalesOrderFactory()
    partner = AccountFactory()
    OrderAccountFactory(order=order, role=AccountRole.END_CUSTOMER)
    OrderAccountFactory(order=order, role=AccountRole.SOLD_TO)
    OrderAccountFactory(order=order, role=AccountRole.PARTNER, account=partner)
    OrderAccountFactory(order=order, role=AccountRole.PARTNER)
    OrderAccountFactory(order=order, role=AccountRole.DISTRIBUTOR)
    OrderAccountFactory(order=order, role=AccountRole.DISTRIBUTOR)

    for role, account in [
        (AccountRole.END_CUSTOMER, None),
        (AccountRole.SOLD_TO, None),
        (AccountRole.PARTNER, partner),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            OrderAccountFactory(order=order, role=role, **({"account": account} if account else {}))
    assert order.order_accounts.count() == 6


def test_a_csv_names_more_partners_in_numbered_columns():
    text = (
        "order_number,emails,end_customer_id,end_customer_name,partner_id,partner_name,"
        "partner_2_id,partner_2_name,distributor_id,distributor_name,"
        "line_number,sku,quantity,requested_ship_date\n"
        "SO-1,a@northwind.example,0100012345,Northwind,0200054321,Blue Harbor,"
        "0200067890,Lakeside,0300077777,Meridian,1,KS-TD-1Y,1,2026-12-01\n"
    )

    document, _ = orders_document_from_csv(text)

    assert document["orders"][0]["accounts"] == [
        {"account_id": "0100012345", "name": "Northwind", "role": "end_customer"},
        {"account_id": "0200054321", "name": "Blue Harbor", "role": "partner"},
        {"account_id": "0200067890", "name": "Lakeside", "role": "partner"},
        {"account_id": "0300077777", "name": "Meridian", "role": "distributor"},
    ]


@pytest.mark.django_db
def test_the_admin_takes_two_partners_and_refuses_a_second_end_customer(admin_client):
    order = SalesOrderFactory()
    customer, blue, lake = AccountFactory(), AccountFactory(), AccountFactory()
    product = ProductFactory()
    url = reverse("admin:orders_salesorder_change", args=[order.pk])
    form = {
        "order_number": order.order_number,
        "language": "en",
        "order_accounts-TOTAL_FORMS": "3",
        "order_accounts-INITIAL_FORMS": "0",
        "order_accounts-0-account": customer.pk,
        "order_accounts-0-role": "end_customer",
        "order_accounts-1-account": blue.pk,
        "order_accounts-1-role": "partner",
        "order_accounts-2-account": lake.pk,
        "order_accounts-2-role": "partner",
        "emails-TOTAL_FORMS": "1",
        "emails-INITIAL_FORMS": "0",
        "emails-0-email": "buyer@northwind.example",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-0-line_number": "1",
        "lines-0-product": product.pk,
        "lines-0-quantity": "1",
        "lines-0-requested_ship_date": "2027-01-15",
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302, response.context["errors"]
    assert sorted(order.order_accounts.values_list("role", flat=True)) == [
        "end_customer",
        "partner",
        "partner",
    ]

    form.update({"order_accounts-2-role": "end_customer"})
    order.order_accounts.all().delete()
    page = admin_client.post(url, form)

    assert page.status_code == 200
    formset = page.context["inline_admin_formsets"][0].formset
    assert formset.errors[2] == {
        "role": ["An order has only one “End customer” account: remove this row or the other."]
    }
    assert not order.order_accounts.exists()


CSV_HEAD = (
    "order_number,emails,end_customer_id,end_customer_name,partner_id,partner_name,"
    "partner_2_id,partner_2_name,line_number,sku,quantity,requested_ship_date\n"
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row", "error"),
    [
        (
            "SO-1,a@northwind.example,0100012345,Northwind,0200054321,Blue Harbor,"
            "0200054321,Blue Harbor,1,KS-TD-1Y,1,2026-12-01",
            "line 2: partner_2_id: 0200054321 is already a partner in column partner_id",
        ),
        (
            "SO-1,a@northwind.example,0100012345,Northwind,0200054321,Blue Harbor,"
            "02-00,Lakeside,1,KS-TD-1Y,1,2026-12-01",
            "line 2: partner_2_id: An Account ID is 4 to 20 digits.",
        ),
    ],
)
def test_a_csv_upload_names_the_column_of_a_bad_partner_and_writes_nothing(
    admin_client, products, row, error
):
    upload = SimpleUploadedFile("orders.csv", (CSV_HEAD + row + "\n").encode())

    page = admin_client.post(reverse("admin:bulk_import"), {"kind": "orders", "file": upload})

    assert page.status_code == 200
    assert page.context["errors"] == [error]
    assert not SalesOrder.objects.exists()
