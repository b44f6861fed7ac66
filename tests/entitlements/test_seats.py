"""Seats owned against seats used, per account and product (apps/entitlements/seats.py)."""

import datetime

import pytest
from django.utils import timezone

from apps.entitlements.models import Entitlement, EntitlementStatus
from apps.entitlements.seats import LIVE_STATUSES, seats_by_account_and_product
from apps.lms.models import LegacyKeyState
from apps.orders.models import AccountRole
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import ActivationFactory, EntitlementAccountFactory
from tests.factories.lms import LegacyKeyFactory
from tests.portal.helpers import entitlement_of, new_account, subscription_of

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def _seats(*accounts, product=None):
    rows = seats_by_account_and_product(
        account_pks=[a.pk for a in accounts],
        today=TODAY,
        product_pk=product.pk if product else None,
    )
    return {(r.account_id, r.product_sku): (r.owned, r.used, r.free) for r in rows}


def test_live_entitlements_count_their_quantity_and_their_live_activations():
    account, product = new_account(), ProductFactory(subscription=True)
    active = subscription_of(account, ends_in_days=100, product=product, quantity=5)
    in_grace = subscription_of(account, ends_in_days=-3, product=product, quantity=2)
    ActivationFactory(entitlement=active)
    ActivationFactory(entitlement=active)
    ActivationFactory(entitlement=active, revoked_at=timezone.now())  # freed its seat
    ActivationFactory(entitlement=in_grace)
    # Neither an expired, a suspended nor a revoked entitlement owns a seat, nor uses one.
    expired = subscription_of(account, ends_in_days=-60, product=product, quantity=7)
    ActivationFactory(entitlement=expired)
    suspended = subscription_of(
        account, ends_in_days=100, product=product, quantity=11, suspended_at=timezone.now()
    )
    ActivationFactory(entitlement=suspended)
    revoked = entitlement_of(account, product=product, quantity=13, revoked_at=timezone.now())
    ActivationFactory(entitlement=revoked)

    assert _seats(account) == {(account.account_id, product.sku): (7, 3, 4)}


def test_legacy_keys_handed_out_use_seats():
    account = new_account()
    keys = ProductFactory(delivery_method="heritage_key")
    entitlement = entitlement_of(account, product=keys, quantity=3)
    for _ in range(2):
        LegacyKeyFactory(
            product=keys,
            state=LegacyKeyState.ASSIGNED,
            entitlement=entitlement,
            assigned_at=timezone.now(),
        )
    LegacyKeyFactory(product=keys)  # still in the pool

    assert _seats(account) == {(account.account_id, keys.sku): (3, 2, 1)}


def test_an_account_in_two_roles_counts_an_entitlement_once_and_each_account_counts_it():
    mine, partner, product = new_account(), new_account(), ProductFactory()
    entitlement = entitlement_of(mine, partner, product=product, quantity=4)
    EntitlementAccountFactory(entitlement=entitlement, account=mine, role=AccountRole.SOLD_TO)
    ActivationFactory(entitlement=entitlement)

    assert _seats(mine, partner) == {
        (mine.account_id, product.sku): (4, 1, 3),
        (partner.account_id, product.sku): (4, 1, 3),
    }
    assert _seats(partner) == {(partner.account_id, product.sku): (4, 1, 3)}


def test_more_bound_than_owned_shows_a_negative_free_count_and_products_stay_apart():
    account, one, other = new_account(), ProductFactory(), ProductFactory()
    small = entitlement_of(account, product=one, quantity=1)
    ActivationFactory(entitlement=small)
    ActivationFactory(entitlement=small)
    entitlement_of(account, product=other, quantity=6)
    # A product whose entitlements all ended still has its row, with nothing owned.
    ended = ProductFactory()
    entitlement_of(account, product=ended, quantity=9, revoked_at=timezone.now())

    assert _seats(account) == {
        (account.account_id, one.sku): (1, 2, -1),
        (account.account_id, other.sku): (6, 0, 6),
        (account.account_id, ended.sku): (0, 0, 0),
    }
    assert _seats(account, product=other) == {(account.account_id, other.sku): (6, 0, 6)}


def test_other_accounts_are_not_counted():
    mine, theirs, product = new_account(), new_account(), ProductFactory()
    entitlement_of(theirs, product=product, quantity=3)

    assert _seats(mine) == {}
    assert seats_by_account_and_product(account_pks=[], today=TODAY) == []


def test_live_means_active_or_grace_as_the_status_says_on_every_status():
    account, product = new_account(), ProductFactory(subscription=True)
    by_status = {
        EntitlementStatus.ACTIVE: subscription_of(account, ends_in_days=10, product=product),
        EntitlementStatus.GRACE: subscription_of(account, ends_in_days=-1, product=product),
        EntitlementStatus.EXPIRED: subscription_of(account, ends_in_days=-40, product=product),
        EntitlementStatus.SUSPENDED: subscription_of(
            account, ends_in_days=10, product=product, suspended_at=timezone.now()
        ),
        EntitlementStatus.REVOKED: subscription_of(
            account, ends_in_days=10, product=product, revoked_at=timezone.now()
        ),
    }
    statuses = dict(Entitlement.objects.with_status(TODAY).values_list("pk", "status"))
    for status, entitlement in by_status.items():
        assert statuses[entitlement.pk] == status
        Entitlement.objects.exclude(pk=entitlement.pk).update(revoked_at=timezone.now())
        Entitlement.objects.filter(pk=entitlement.pk).update(revoked_at=entitlement.revoked_at)
        owned = _seats(account)[(account.account_id, product.sku)][0]
        assert owned == (entitlement.quantity if status in LIVE_STATUSES else 0), status


def test_the_rollup_is_one_query_whatever_the_rows(django_assert_num_queries):
    accounts = [new_account() for _ in range(3)]
    for account in accounts:
        for _ in range(3):
            ActivationFactory(entitlement=entitlement_of(account, quantity=2))

    with django_assert_num_queries(1):
        assert len(_seats(*accounts)) == 9
