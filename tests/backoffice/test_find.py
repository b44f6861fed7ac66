import pytest
from django.urls import reverse

from tests.factories.accounts import AccountAssociationFactory
from tests.factories.entitlements import ActivationFactory, EntitlementAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    link = EntitlementAccountFactory(account__account_id="0100012345")
    entitlement = link.entitlement
    ActivationFactory(entitlement=entitlement, serial_number="JN1234567890")
    association = AccountAssociationFactory(
        account=link.account, contact__user__email="alice@example.com"
    )
    other = EntitlementAccountFactory(account__account_id="0999999999").entitlement
    return entitlement, association.contact, other


def find(client, q):
    return client.get(reverse("admin:find"), {"q": q}).content.decode()


@pytest.mark.parametrize(
    "typed",
    [
        lambda e: e.ssrn,
        lambda e: e.ssrn.lower().replace("-", " "),
        lambda e: e.activation_code.lower().replace("-", ""),
        lambda e: e.order_line.order.order_number,
        lambda e: "JN1234567890",
        lambda e: "0100012345",
    ],
    ids=[
        "ssrn",
        "ssrn-typed-loosely",
        "activation-code-typed-loosely",
        "order-number",
        "serial",
        "account-id",
    ],
)
def test_one_box_finds_an_entitlement_by_any_of_its_keys(admin_client, world, typed):
    entitlement, _, other = world

    page = find(admin_client, typed(entitlement))

    assert entitlement.ssrn in page
    assert other.ssrn not in page


def test_one_box_finds_contacts_by_email_and_orders_by_account(admin_client, world):
    entitlement, contact, _ = world

    assert contact.contact_id in find(admin_client, "ALICE@example.com")
    assert contact.contact_id in find(admin_client, "0100012345")
    assert entitlement.order_line.order.order_number in find(admin_client, entitlement.ssrn)


def test_a_search_that_matches_nothing_says_so(admin_client, world):
    assert "Nothing matches" in find(admin_client, "no-such-thing")


def test_the_changelist_search_finds_an_entitlement_by_activation_code(admin_client, world):
    entitlement, _, other = world
    url = reverse("admin:entitlements_entitlement_changelist")

    page = admin_client.get(url, {"q": entitlement.activation_code}).content.decode()

    assert entitlement.ssrn in page and other.ssrn not in page
