"""A changelist runs as many queries for many rows as for few."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories.accounts import AccountAssociationFactory, ContactFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import ActivationFactory, EntitlementAccountFactory
from tests.factories.lms import LegacyKeyFactory
from tests.factories.orders import OrderAccountFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def _with_renewal():
    ProductFactory(subscription=True, renews=ProductFactory(subscription=True))


def _order_with_accounts():
    OrderAccountFactory(order=OrderLineFactory().order)


CASES = [
    ("accounts_contact", lambda: AccountAssociationFactory(contact=ContactFactory())),
    ("accounts_accountassociation", AccountAssociationFactory),
    ("catalog_product", _with_renewal),
    ("orders_salesorder", _order_with_accounts),
    ("orders_orderline", OrderLineFactory),
    ("entitlements_entitlement", EntitlementAccountFactory),
    ("entitlements_activation", ActivationFactory),
    ("lms_legacykey", LegacyKeyFactory),
]


def _queries(client, name):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    return len(captured)


@pytest.mark.parametrize(("name", "make"), CASES, ids=[name for name, _ in CASES])
def test_a_changelist_does_not_grow_queries_with_its_rows(admin_client, name, make):
    for _ in range(2):
        make()
    few = _queries(admin_client, name)
    for _ in range(10):
        make()

    assert _queries(admin_client, name) == few
