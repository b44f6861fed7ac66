import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from tests.factories.accounts import AccountAssociationFactory, UserFactory
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
    return client.post(reverse("admin:find"), {"q": q}).content.decode()


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


@pytest.mark.parametrize("url", [reverse("admin:index"), reverse("admin:find")])
def test_the_find_box_sends_what_is_typed_in_the_body_not_the_address(admin_client, url):
    page = admin_client.get(url).content.decode()

    form = re.search(r'<form class="keyship-find"[^>]*>.*?</form>', page, re.S).group(0)
    assert 'method="post"' in form and 'name="csrfmiddlewaretoken"' in form


def test_find_by_the_address_searches_nothing_and_repeats_nothing(admin_client, world):
    entitlement, _, _ = world
    typed = entitlement.activation_code.lower()

    page = admin_client.get(reverse("admin:find"), {"q": typed}).content.decode()

    assert entitlement.ssrn not in page and typed not in page.lower()


def test_find_refuses_a_search_without_the_forms_csrf_token(admin_user, world):
    entitlement, _, _ = world
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(reverse("admin:find"), {"q": entitlement.ssrn})

    assert response.status_code == 403


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code,
        lambda code: code.lower().replace("-", ""),
        lambda code: code[:-1] + ("2" if code[-1] != "2" else "3"),  # mistyped: still a code
    ],
    ids=["as-printed", "typed-loosely", "mistyped"],
)
def test_a_changelist_search_by_activation_code_finds_nothing_and_points_to_find(
    admin_client, world, typed
):
    entitlement, _, other = world
    url = reverse("admin:entitlements_entitlement_changelist")

    page = admin_client.get(url, {"q": typed(entitlement.activation_code)}).content.decode()

    assert entitlement.ssrn not in page and other.ssrn not in page
    assert "looks like an activation code" in page
    assert f'href="{reverse("admin:find")}"' in page


def test_a_changelist_search_by_ssrn_still_finds_the_entitlement(admin_client, world):
    entitlement, _, other = world
    url = reverse("admin:entitlements_entitlement_changelist")

    page = admin_client.get(url, {"q": entitlement.ssrn.lower()}).content.decode()

    assert entitlement.ssrn in page and other.ssrn not in page
    assert "looks like an activation code" not in page


def test_find_by_activation_code_is_for_staff_who_may_see_codes(client, world):
    # Operations never sees a code, so it does not look one up either: a code in its hands
    # does not tell it whose entitlement, order and customer that is.
    entitlement, _, _ = world
    pages = {}
    for role in (OPERATIONS, CUSTOMER_CARE):
        staff = UserFactory(is_staff=True)
        staff.groups.add(Group.objects.get(name=role))
        client.force_login(staff)
        pages[role] = find(client, entitlement.activation_code)

    assert entitlement.ssrn in pages[CUSTOMER_CARE]
    assert entitlement.ssrn not in pages[OPERATIONS]
    assert "Nothing matches" in pages[OPERATIONS]
    assert entitlement.ssrn in find(client, entitlement.ssrn)  # Care still; by SSRN anyone
