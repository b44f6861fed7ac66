"""Find takes every kind of key however it is typed: upper, lower or mixed case, with spaces
around it, and with the separators a code allows. Each kind, each way of typing it."""

import datetime
import re
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import DeliveryMethod
from apps.entitlements.models import Term, TermKind
from apps.lms.models import LegacyKeyState
from tests.factories.accounts import AccountAssociationFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import (
    ActivationFactory,
    EntitlementAccountFactory,
    EntitlementFactory,
)
from tests.factories.lms import LegacyKeyFactory
from tests.factories.orders import OrderEmailFactory, OrderLineFactory, SalesOrderFactory

pytestmark = pytest.mark.django_db


@dataclass
class World:
    jal: object  # account 0100012345, order So-Ab12cd, activated on JN1234567890
    lms: object  # a legacy LMS key bound to the device Vpn-0001/b
    renewed: object  # renewed by an order sent to renewals@example.com
    other: object  # matches nothing typed here
    contact: object  # Contact ID Cx-Ab0042, alice@example.com, associated with the account


@pytest.fixture
def world():
    jal = EntitlementFactory(order_line__order__order_number="So-Ab12cd")
    account = EntitlementAccountFactory(entitlement=jal, account__account_id="0100012345").account
    ActivationFactory(entitlement=jal, serial_number="JN1234567890")
    OrderEmailFactory(order=jal.order_line.order, email="Buyer@Example.com")
    contact = AccountAssociationFactory(
        account=account, contact__contact_id="Cx-Ab0042", contact__user__email="Alice@Example.com"
    ).contact

    lms = EntitlementFactory(
        order_line__product=ProductFactory(delivery_method=DeliveryMethod.LEGACY_LMS)
    )
    LegacyKeyFactory(
        product=lms.product,
        state=LegacyKeyState.ASSIGNED,
        entitlement=lms,
        assigned_at=timezone.now(),
        serial_number="VPN-0001/B",
    )

    renewed = EntitlementFactory()
    renewal_order = SalesOrderFactory()
    OrderEmailFactory(order=renewal_order, email="renewals@example.com")
    Term.objects.create(
        entitlement=renewed,
        sequence=2,
        kind=TermKind.RENEWAL,
        order_line=OrderLineFactory(order=renewal_order, product=renewed.product),
        starts_on=datetime.date(2027, 1, 1),
        ends_on=datetime.date(2027, 12, 31),
    )
    other = EntitlementAccountFactory(account__account_id="0999999999").entitlement
    return World(jal=jal, lms=lms, renewed=renewed, other=other, contact=contact)


def _mixed(key: str) -> str:
    return "".join(c.upper() if n % 2 else c.lower() for n, c in enumerate(key))


def _cases(key: str, *, separators: bool = False) -> dict[str, str]:
    cases = {
        "as stored": key,
        "upper case": key.upper(),
        "lower case": key.lower(),
        "mixed case": _mixed(key),
        "spaces around": f"  {key} \t",
    }
    if separators:  # codes and Account IDs: the groups apart, or run together
        cases["groups apart"] = f" {_mixed(key).replace('-', ' ')} "
        cases["run together"] = key.replace("-", "").lower()
    return cases


# kind -> (the key as the world holds it, separators allowed, what Find lists for it)
KINDS = {
    "SSRN": (lambda w: w.jal.ssrn, True, {"jal", "jal's order"}),
    "activation code": (lambda w: w.jal.activation_code, True, {"jal", "jal's order"}),
    "order number": (lambda w: "So-Ab12cd", False, {"jal", "jal's order"}),
    "device serial": (lambda w: "Jn1234567890", False, {"jal", "jal's order"}),
    "serial bound to a legacy LMS key": (lambda w: "vpn-0001/b", False, {"lms", "lms's order"}),
    "Account ID": (lambda w: "0100-012345", True, {"jal", "jal's order", "contact"}),
    "Contact ID": (lambda w: "Cx-Ab0042", False, {"contact"}),
    "email of an order": (lambda w: "buyer@example.com", False, {"jal", "jal's order"}),
    "email of a renewal order": (
        lambda w: "Renewals@Example.com",
        False,
        {"renewed", "renewal order"},
    ),
    "email of a contact": (
        lambda w: "alice@EXAMPLE.com",
        False,
        {"jal", "jal's order", "contact"},
    ),
}
CASES = [
    (kind, case)
    for kind, (_key, separators, _found) in KINDS.items()
    for case in _cases("x-x", separators=separators)
]


def _sections(page: str) -> dict[str, str]:
    """The Find page's tables, by heading."""
    return {
        heading: body
        for heading, body in re.findall(r"<h2>([^<]+)</h2>\s*<table>(.*?)</table>", page, re.S)
    }


def _listed(world: World, page: str) -> set[str]:
    sections = _sections(page)
    entitlements = sections.get("Entitlements", "")
    orders = sections.get("Sales orders", "")
    contacts = sections.get("Contacts", "")
    renewal_order = world.renewed.terms.get().order_line.order
    listed = {
        "jal": world.jal.ssrn in entitlements,
        "lms": world.lms.ssrn in entitlements,
        "renewed": world.renewed.ssrn in entitlements,
        "other": world.other.ssrn in entitlements,
        "jal's order": world.jal.order_line.order.order_number in orders,
        "lms's order": world.lms.order_line.order.order_number in orders,
        "renewal order": renewal_order.order_number in orders,
        "contact": world.contact.contact_id in contacts,
    }
    return {name for name, shown in listed.items() if shown}


@pytest.mark.parametrize("kind, case", CASES, ids=[f"{k}: {c}" for k, c in CASES])
def test_find_lists_what_each_kind_of_key_names_however_it_is_typed(
    admin_client, world, kind, case
):
    key, separators, expected = KINDS[kind]
    typed = _cases(key(world), separators=separators)[case]

    page = admin_client.post(reverse("admin:find"), {"q": typed}).content.decode()

    assert _listed(world, page) == expected


def test_find_keeps_the_number_of_queries_whatever_the_number_of_matches(admin_client, world):
    def queries(typed: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            admin_client.post(reverse("admin:find"), {"q": typed})
        return len(captured)

    before = {typed: queries(typed) for typed in ("ALICE@example.com", "so-ab12cd", "0100012345")}
    account = world.jal.entitlement_accounts.get().account
    for _ in range(5):
        more = EntitlementFactory(order_line__order=world.jal.order_line.order)
        EntitlementAccountFactory(entitlement=more, account=account)

    assert {typed: queries(typed) for typed in before} == before
