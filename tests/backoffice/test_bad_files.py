"""Files the import page cannot read: a clear error on the page, and nothing written."""

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
    "order_number,language,emails,end_customer_id,end_customer_name,"
    "line_number,sku,quantity,requested_ship_date\n"
)
ROW = "SO-1,en,a@northwind.example,0100012345,{name},1,KS-FW-ADV,2,2026-12-01\n"


def _upload(client, kind, name, text):
    return client.post(URL, {"kind": kind, "file": SimpleUploadedFile(name, text.encode())})


@pytest.mark.parametrize("confirm", [False, True])
def test_a_csv_with_a_200_kb_field_is_an_error_on_the_page(admin_client, products, confirm):
    text = HEADER + ROW.format(name="Northwind") + ROW.format(name="N" * 200_000)

    if confirm:
        response = admin_client.post(
            URL, {"kind": "orders", "name": "orders.csv", "text": text, "confirm": "1"}
        )
    else:
        response = _upload(admin_client, "orders", "orders.csv", text)

    assert response.status_code == 200
    assert response.context["errors"] == [
        "orders.csv: line 3: a field is longer than 131072 characters"
    ]
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize("kind", ["orders", "catalog", "accounts"])
def test_deeply_nested_json_is_an_error_on_the_page(admin_client, products, kind):
    text = json.dumps({"orders": [order_body()]})[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"

    before = Product.objects.count()

    response = _upload(admin_client, kind, "deep.json", text)

    assert response.status_code == 200
    assert response.context["errors"] == ["deep.json: nested deeper than 64 levels"]
    assert not SalesOrder.objects.exists() and Product.objects.count() == before


def test_a_csv_order_with_a_line_break_in_a_name_is_refused_with_line_and_path(
    admin_client, products
):
    text = HEADER + ROW.format(name='"North\r\nwind"')

    response = _upload(admin_client, "orders", "orders.csv", text)

    assert response.context["errors"] == [
        "line 2: end_customer_name: control characters are not allowed"
    ]
    assert not SalesOrder.objects.exists()


def test_a_catalog_file_with_a_control_character_names_the_field(admin_client):
    catalog = {"products": [{"sku": "KS-X", "name": "X\x07"}]}

    response = _upload(admin_client, "catalog", "catalog.json", json.dumps(catalog))

    assert response.context["errors"] == ["products[0].name: control characters are not allowed"]
    assert not Product.objects.exists()


def test_a_legacy_key_file_with_a_200_kb_field_is_an_error_on_the_page(admin_client):
    from apps.lms.models import LegacyKey
    from tests.factories.catalog import ProductFactory

    ProductFactory(sku="OLD-FW", delivery_method="heritage_key")
    text = "sku,license_key\nOLD-FW,KEY-1\nOLD-FW," + "K" * 200_000 + "\n"

    response = admin_client.post(
        reverse("admin:lms_legacykey_import"),
        {"file": SimpleUploadedFile("keys.csv", text.encode())},
    )

    assert response.status_code == 200
    assert "keys.csv: line 3: a field is longer than 131072 characters" in response.content.decode()
    assert not LegacyKey.objects.exists()


def test_a_file_too_large_to_confirm_is_refused_at_the_preview(admin_client, products, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    text = json.dumps({"orders": [order_body(f"SO-{n}") for n in range(10)]})

    response = _upload(admin_client, "orders", "orders.json", text)

    assert response.context["errors"] == [
        "orders.json: the file is larger than 2.0\xa0KB: split it"
    ]
    assert "preview" not in response.context
