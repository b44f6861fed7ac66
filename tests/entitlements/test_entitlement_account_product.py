"""Each row by which an account sees an entitlement carries the entitlement's product (the
portal's product filter and counts read it from the accounts' index): every service that
writes the rows sets it, and PostgreSQL refuses a row that names another product."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from apps.core.actors import Job
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Entitlement, EntitlementAccount
from apps.entitlements.transfers import entitlement_split, entitlement_transfer
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.models import AccountRole
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines
from tests.portal.helpers import entitlement_of, new_account

pytestmark = pytest.mark.django_db
CARE = Job("test")


def _rows_with_another_product():
    return [
        (row.entitlement.ssrn, row.account.account_id)
        for row in EntitlementAccount.objects.select_related("entitlement", "account")
        if row.product_id != row.entitlement.product_id
    ]


def test_fulfilment_transfer_and_split_write_rows_with_the_entitlements_product():
    # Given an order line that ships today (a product sold to several accounts)
    order = order_with_lines(dates=[datetime.date.today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get(order_line__order=order)
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=CARE)
    new_account(account_id="0300077777")
    new_account(account_id="0400088888")

    # When it is transferred, then split
    entitlement_transfer(
        entitlement_id=entitlement.pk, account_ids=["0300077777"], reason="sold", actor=CARE
    )
    split = entitlement_split(
        entitlement_id=entitlement.pk,
        quantity=1,
        account_ids=["0400088888"],
        reason="a seat for the subsidiary",
        actor=CARE,
    )

    # Then every row carries its entitlement's product
    assert EntitlementAccount.objects.filter(entitlement=split).exists()
    assert EntitlementAccount.objects.filter(entitlement=entitlement).exists()
    assert _rows_with_another_product() == []


@pytest.mark.postgres  # the composite foreign key is PostgreSQL's
def test_the_database_refuses_a_row_with_another_product():
    northwind = new_account()
    entitlement = entitlement_of(northwind)

    with pytest.raises(IntegrityError), transaction.atomic():
        EntitlementAccount.objects.create(
            entitlement=entitlement,
            product=ProductFactory(),
            account=new_account(),
            role=AccountRole.PARTNER,
        )


@pytest.mark.postgres  # the composite foreign key is PostgreSQL's
def test_a_change_of_the_entitlements_product_reaches_its_rows():
    northwind, blue_harbor = new_account(), new_account()
    entitlement = entitlement_of(northwind, blue_harbor)
    other = ProductFactory()

    Entitlement.objects.filter(pk=entitlement.pk).update(product=other)

    assert set(entitlement.entitlement_accounts.values_list("product", flat=True)) == {other.pk}
