"""Legal states are database constraints: a bug in Python cannot store an illegal row."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.catalog.models import Product
from apps.lms.models import LegacyKey
from apps.orders.models import OrderEmail, OrderLine
from tests.factories.accounts import AccountAssociationFactory, UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import ActivationFactory, EntitlementFactory
from tests.factories.lms import LegacyKeyFactory
from tests.factories.orders import OrderEmailFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def refused(make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_a_subscription_needs_a_term_and_a_perpetual_license_has_none():
    refused(lambda: ProductFactory(license_type="subscription", term_months=None))
    refused(lambda: ProductFactory(license_type="perpetual", term_months=12))
    refused(lambda: Product.objects.filter(pk=ProductFactory().pk).update(delivery_method="fax"))


def test_order_lines_have_a_positive_quantity_and_unique_numbers():
    line = OrderLineFactory(line_number=1)
    refused(lambda: OrderLineFactory(order=line.order, line_number=1))
    refused(lambda: OrderLineFactory(quantity=0))
    refused(lambda: OrderLine.objects.filter(pk=line.pk).update(status="shipped-ish"))


def test_a_line_is_fulfilled_exactly_when_it_has_a_fulfillment_time():
    line = OrderLineFactory()
    refused(lambda: OrderLine.objects.filter(pk=line.pk).update(status="fulfilled"))
    refused(lambda: OrderLine.objects.filter(pk=line.pk).update(fulfilled_at=timezone.now()))


def test_an_order_lists_an_address_once_whatever_its_case():
    email = OrderEmailFactory(email="buyer@example.com")
    refused(lambda: OrderEmail.objects.create(order=email.order, email="BUYER@example.com"))


def test_a_contact_is_associated_with_an_account_once():
    association = AccountAssociationFactory()
    refused(
        lambda: AccountAssociationFactory(contact=association.contact, account=association.account)
    )


def test_two_logins_cannot_share_an_address_in_any_case():
    UserFactory(email="care@example.com")
    refused(lambda: UserFactory(email="Care@example.com"))


def test_one_line_mints_one_entitlement_and_codes_are_unique():
    entitlement = EntitlementFactory()
    refused(lambda: EntitlementFactory(order_line=entitlement.order_line))
    refused(lambda: EntitlementFactory(ssrn=entitlement.ssrn))
    refused(lambda: EntitlementFactory(activation_code_digest=entitlement.activation_code_digest))


def test_entitlement_dates_run_forward():
    start = datetime.date(2026, 1, 31)
    refused(lambda: EntitlementFactory(starts_on=start, grace_ends_on=datetime.date(2027, 3, 2)))
    refused(
        lambda: EntitlementFactory(starts_on=start, term_ends_on=start - datetime.timedelta(days=1))
    )
    refused(
        lambda: EntitlementFactory(
            starts_on=start,
            term_ends_on=datetime.date(2027, 1, 31),
            grace_ends_on=datetime.date(2027, 1, 1),
        )
    )


def test_a_serial_holds_one_live_activation_per_entitlement():
    activation = ActivationFactory(serial_number="SN1")
    refused(lambda: ActivationFactory(entitlement=activation.entitlement, serial_number="SN1"))
    activation.revoked_at = timezone.now()
    activation.save()
    ActivationFactory(entitlement=activation.entitlement, serial_number="SN1")  # the seat was freed


def test_a_legacy_key_is_assigned_exactly_when_it_names_its_entitlement():
    key = LegacyKeyFactory()
    refused(lambda: LegacyKey.objects.filter(pk=key.pk).update(state="assigned"))
    refused(lambda: LegacyKeyFactory(license_key=key.license_key))
