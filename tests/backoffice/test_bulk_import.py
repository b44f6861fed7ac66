"""Operations upload an orders, catalog or accounts file: a preview first, then confirm."""

import datetime
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.catalog.models import Product
from apps.orders.models import SalesOrder
from tests.api.conftest import order_body

pytestmark = pytest.mark.django_db
URL = reverse("admin:bulk_import")
HEADER = (
    "order_number,language,emails,end_customer_id,end_customer_name,partner_id,partner_name,"
    "line_number,sku,quantity,requested_ship_date,renews_ssrn\n"
)


def _upload(client, kind, name, text):
    return client.post(URL, {"kind": kind, "file": SimpleUploadedFile(name, text.encode())})


def test_an_orders_csv_is_previewed_then_imported_on_confirmation(admin_client, products):
    text = HEADER + (
        "SO-1,en,a@northwind.example;b@northwind.example,0100012345,Northwind,0200054321,"
        "Blue Harbor,1,KS-FW-ADV,2,2026-12-01,\n"
        "SO-1,en,a@northwind.example;b@northwind.example,0100012345,Northwind,0200054321,"
        "Blue Harbor,2,KS-TD-1Y,1,2027-01-15,\n"
        "SO-2,de,c@example.de,0100099999,Contoso,,,1,KS-FW-ADV,1,2026-12-03,\n"
    )

    preview = _upload(admin_client, "orders", "orders.csv", text)

    assert list(preview.context["preview"].rows) == [
        ("order SO-1", "created"),
        ("order SO-2", "created"),
    ]
    assert not SalesOrder.objects.exists()

    admin_client.post(
        URL,
        {"kind": "orders", "name": "orders.csv", "text": preview.context["text"], "confirm": "1"},
    )
    order = SalesOrder.objects.get(order_number="SO-1")
    assert order.lines.count() == 2 and order.emails.count() == 2
    assert SalesOrder.objects.get(order_number="SO-2").language == "de"


def test_a_bad_csv_names_its_lines_and_writes_nothing(admin_client, products):
    text = HEADER + (
        "SO-1,en,a@northwind.example,0100012345,Northwind,,,1,KS-FW-ADV,2,2026-12-01,\n"
        "SO-1,en,a@northwind.example,0100012345,Northwind,,,2,NOPE,1,2026-13-01,\n"
    )

    response = _upload(admin_client, "orders", "orders.csv", text)

    assert response.context["errors"] == [
        "line 3: orders[0].lines[1].requested_ship_date: Date has wrong format. "
        "Use one of these formats instead: YYYY-MM-DD."
    ]
    assert "preview" not in response.context
    assert not SalesOrder.objects.exists()


def test_catalog_and_accounts_files_preview_and_import(admin_client):
    catalog = {
        "products": [
            {"sku": "KS-X", "name": "X", "delivery_method": "jal", "license_type": "perpetual"}
        ]
    }
    preview = _upload(admin_client, "catalog", "catalog.json", json.dumps(catalog))
    assert preview.context["preview"].rows == [("product KS-X", "created")]
    assert not Product.objects.exists()
    admin_client.post(
        URL, {"kind": "catalog", "name": "c.json", "text": json.dumps(catalog), "confirm": "1"}
    )
    assert Product.objects.filter(sku="KS-X").exists()

    broken = _upload(admin_client, "accounts", "accounts.json", '{"accounts": [')
    assert broken.context["errors"][0].startswith("accounts.json: not valid JSON at line 1")


def test_a_json_order_file_is_the_apis_body(admin_client, products):
    preview = _upload(admin_client, "orders", "order.json", json.dumps(order_body()))
    assert preview.context["preview"].rows == [("order SO-4711", "created")]


def test_only_those_allowed_to_add_see_each_kind(client):
    from django.contrib.auth.models import Group

    from tests.factories.accounts import UserFactory

    care = UserFactory(is_staff=True)
    care.groups.add(Group.objects.get(name="Customer Care"))
    client.force_login(care)
    page = client.get(URL)
    assert list(page.context["kinds"]) == ["accounts"]
    refused = client.post(URL, {"kind": "orders", "name": "x.json", "text": "{}"})
    assert refused.status_code == 403


def test_a_renewal_of_another_end_customers_ssrn_is_refused_with_its_csv_line(admin_client):
    from tests.factories.catalog import ProductFactory
    from tests.factories.entitlements import EntitlementAccountFactory

    owned = EntitlementAccountFactory(
        account__account_id="0100012345",
        entitlement__order_line__product=ProductFactory(sku="KS-TD-1Y", subscription=True),
        entitlement__term_ends_on=datetime.date(2027, 12, 1),
        entitlement__grace_ends_on=datetime.date(2027, 12, 31),
    )
    ProductFactory(sku="KS-TD-REN", subscription=True, renews=owned.entitlement.product)
    ssrn = owned.entitlement.ssrn
    text = HEADER + (
        f"SO-1,en,a@northwind.example,0100012345,Northwind,,,1,KS-TD-REN,1,2027-12-01,{ssrn}\n"
        f"SO-2,en,x@stranger.example,0300000001,Stranger,,,1,KS-TD-REN,1,2027-12-01,{ssrn}\n"
    )

    response = _upload(admin_client, "orders", "orders.csv", text)

    assert response.context["errors"] == [
        f'line 3: orders[1].lines[0].renews_ssrn: "{ssrn}" belongs to another end customer: '
        "a renewal must name the end customer of the entitlement it renews"
    ]
    assert not SalesOrder.objects.filter(order_number__in=["SO-1", "SO-2"]).exists()


def _import(client, body):
    return client.post(
        URL, {"kind": "orders", "name": "o.json", "text": json.dumps(body), "confirm": "1"}
    )


def test_operations_cannot_redirect_an_orders_codes_with_a_new_version_of_the_file(
    client, products
):
    # Operations may not see activation codes: a new version of an unshipped order that
    # sends them to other addresses (or accounts) is refused and writes nothing.
    from django.contrib.auth.models import Group

    from apps.core.models import AuditEvent
    from tests.factories.accounts import UserFactory

    ops = UserFactory(is_staff=True)
    ops.groups.add(Group.objects.get(name="Operations"))
    client.force_login(ops)
    _import(client, order_body())
    redirected = order_body(emails=["ops@keyship.example"])
    redirected["accounts"][1]["account_id"] = "0200099999"

    response = _import(client, redirected)

    assert response.context["errors"] == [
        "orders[0].accounts: changing the accounts of order SO-4711 needs the permission to "
        "see activation codes, as they decide who receives them",
        "orders[0].emails: changing the email addresses of order SO-4711 needs the permission "
        "to see activation codes, as they decide who receives them",
    ]
    order = SalesOrder.objects.get(order_number="SO-4711")
    assert list(order.emails.values_list("email", flat=True)) == ["buyer@northwind.example"]
    assert not AuditEvent.objects.filter(action="order.updated").exists()
    # Its lines still change as the ERP's do.
    later = order_body()
    later["lines"][0]["quantity"] = 3
    assert "imported" in _import(client, later).context


def test_a_recipient_change_by_staff_who_see_codes_is_audited_with_what_changed(
    admin_client, admin_user, products
):
    from apps.core.models import AuditEvent

    _import(admin_client, order_body())

    _import(admin_client, order_body(emails=["buyer@northwind.example", "it@northwind.example"]))

    event = AuditEvent.objects.get(action="order.updated")
    assert event.actor == admin_user
    assert event.data == {"emails_added": ["it@northwind.example"]}
