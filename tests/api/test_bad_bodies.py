"""Bodies the API cannot read, and text it will not store: a JSON 400 naming the problem."""

import json

import pytest
from django.urls import reverse

from apps.catalog.models import Product
from apps.orders.models import SalesOrder
from tests.api.conftest import order_body

ORDERS = reverse("api:orders")
PRODUCTS = reverse("api:products")


def _post(erp, url, raw: bytes | str):
    return erp.post(url, raw, content_type="application/json")


def test_fifty_thousand_brackets_are_a_json_400_not_a_crash(erp):
    response = _post(erp, ORDERS, "[" * 50_000)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": ["body: nested deeper than 64 levels"]}


def test_valid_json_nested_past_the_limit_is_refused_and_at_the_limit_read(erp, products):
    deep = {"order_number": "SO-1", "x": json.loads("[" * 63 + "]" * 63)}  # 64 levels
    assert _post(erp, ORDERS, json.dumps(deep)).status_code == 400  # read, then found wanting
    assert "nested" not in _post(erp, ORDERS, json.dumps(deep)).content.decode()

    deeper = {"order_number": "SO-1", "x": json.loads("[" * 64 + "]" * 64)}  # 65 levels
    response = _post(erp, ORDERS, json.dumps(deeper))
    assert response.json() == {"errors": ["body: nested deeper than 64 levels"]}
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ('{"order_number": ', "body: not valid JSON at line 1, column 18: Expecting value"),
        ('{"quantity": NaN}', "body: not valid JSON: NaN is not a number"),
        (b'{"name": "\xff"}', "body: not UTF-8 text"),
        (
            '{"quantity": 1' + "0" * 200 + "}",
            "body: not valid JSON: a number has more than 100 digits",
        ),
    ],
)
def test_a_body_that_is_not_json_is_a_400_naming_the_mistake(erp, raw, error):
    response = _post(erp, ORDERS, raw)

    assert response.status_code == 400
    assert response.json() == {"errors": [error]}


def test_a_product_name_with_a_line_break_is_refused_with_its_path(erp):
    body = {
        "products": [
            {"sku": "KS-OK", "name": "Fine", "description": "Two lines,\nas written."},
            {"sku": "KS-BAD", "name": "Threat\r\nBcc: someone@example.com"},
        ]
    }

    response = erp.post(PRODUCTS, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"errors": ["products[1].name: control characters are not allowed"]}
    assert not Product.objects.exists()
    del body["products"][1]
    assert erp.post(PRODUCTS, body, format="json").status_code == 200
    assert Product.objects.get().description == "Two lines,\nas written."


@pytest.mark.parametrize("character", ["\r", "\n", "\x00", "\x1b", "\x85", "\u2028"])
def test_an_order_with_a_control_character_is_refused_with_its_path(erp, products, character):
    body = order_body()
    body["accounts"][1]["name"] = f"Blue{character}Harbor"

    response = erp.post(ORDERS, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"errors": ["accounts[1].name: control characters are not allowed"]}
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize("url", [ORDERS, PRODUCTS, reverse("api:accounts")])
@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[]",
        '"an order"',
        "null",
        "12",
        '{"orders": 5, "products": {}, "accounts": "x", "contacts": [[]]}',
        '{"order_number": "SO-1", "lines": [{"quantity": 1e400}], "accounts": [[]]}',
        '{"order_number": "\\ud800", "products": [{"sku": "\\ud800", "name": "\\u0000"}]}',
        '{"lines": [{"quantity": ' + "9" * 5000 + "}]}",
        '{"emails": ["a@b.example\\r\\nBcc: c@d.example"], "products": [{"name": "x'
        + "y" * 300
        + '"}]}',
    ],
)
def test_no_body_is_answered_with_a_500(erp, products, url, raw):
    response = _post(erp, url, raw)

    assert response.status_code in (200, 400), response.content[:200]
    assert response["Content-Type"] == "application/json"
    if response.status_code == 400:
        assert response.json()["errors"]
