import pytest

from apps.catalog.models import Product
from apps.catalog.services import catalog_import
from apps.core.actors import Job
from apps.core.contracts import Rejected

pytestmark = pytest.mark.django_db

SUBSCRIPTION = {
    "sku": "TD-1Y",
    "name": "Threat Defense",
    "license_type": "subscription",
    "term_months": 12,
}
RENEWAL = {
    "sku": "TD-REN",
    "name": "Threat Defense Renewal",
    "license_type": "subscription",
    "term_months": 12,
    "renews_sku": "TD-1Y",
}
HERITAGE = {"sku": "OLD-KEY", "name": "Classic key", "delivery_method": "heritage_key"}


def test_a_catalog_file_creates_products_and_links_renewals():
    result = catalog_import(
        document={"products": [RENEWAL, SUBSCRIPTION, HERITAGE]}, actor=Job("import_catalog")
    )

    assert [outcome for _, outcome in result.rows] == ["created"] * 3
    renewal = Product.objects.get(sku="TD-REN")
    assert renewal.renews.sku == "TD-1Y"
    assert Product.objects.get(sku="OLD-KEY").delivery_method == "heritage_key"


def test_importing_the_same_catalog_again_changes_nothing():
    catalog_import(document={"products": [SUBSCRIPTION, RENEWAL]}, actor=Job("import_catalog"))

    result = catalog_import(
        document={"products": [SUBSCRIPTION, RENEWAL]}, actor=Job("import_catalog")
    )

    assert [outcome for _, outcome in result.rows] == ["unchanged", "unchanged"]


def test_bad_products_are_named_and_nothing_is_written():
    products = [
        {"sku": "A", "name": "A", "license_type": "subscription"},
        {"sku": "B", "name": "B", "delivery_method": "carrier_pigeon"},
        {
            "sku": "C",
            "name": "C",
            "license_type": "subscription",
            "term_months": 12,
            "renews_sku": "NOPE",
        },
        {"sku": "D", "name": "D", "term_months": 12},
    ]

    with pytest.raises(Rejected) as rejected:
        catalog_import(document={"products": products}, actor=Job("import_catalog"))

    assert rejected.value.errors == [
        "products[0].term_months: a subscription needs a term in months",
        'products[1].delivery_method: "carrier_pigeon" is not a valid choice.',
        "products[3].term_months: a perpetual license has no term",
    ]
    assert Product.objects.count() == 0


def test_a_renewal_of_an_unknown_sku_is_refused():
    with pytest.raises(Rejected) as rejected:
        catalog_import(
            document={"products": [{**RENEWAL, "renews_sku": "NOPE"}]}, actor=Job("import_catalog")
        )

    assert rejected.value.errors == ['products[0].renews_sku: unknown SKU "NOPE"']


def test_a_product_a_stored_renewal_sku_renews_stays_a_subscription():
    catalog_import(document={"products": [SUBSCRIPTION, RENEWAL]}, actor=Job("import_catalog"))
    perpetual = {"sku": "TD-1Y", "name": "Threat Defense", "license_type": "perpetual"}

    with pytest.raises(Rejected) as rejected:
        catalog_import(document={"products": [perpetual]}, actor=Job("import_catalog"))

    assert rejected.value.errors == [
        "products[0].license_type: TD-REN renews TD-1Y, which stays a subscription while a "
        "SKU renews it"
    ]
    assert Product.objects.get(sku="TD-1Y").license_type == "subscription"
    # Once the renewal SKU renews something else, the product may change.
    result = catalog_import(
        document={"products": [perpetual, {**RENEWAL, "renews_sku": None}]},
        actor=Job("import_catalog"),
    )
    assert [outcome for _, outcome in result.rows] == ["updated", "updated"]
