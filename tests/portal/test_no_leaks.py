"""No page or download of the portal shows an entitlement to anyone who should not see it.

A state machine builds random accounts, contacts, associations (added and removed),
entitlements shipped to random sets of accounts, and addresses put on and taken off their
orders, and after its steps asks every page and download, as every contact and as every
order address signed in with a sign-in link, whether it answers exactly what the
associations (for a contact) or the orders (for an address) allow.
"""

import csv
import io

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from apps.accounts.models import AccountAssociation
from apps.orders.models import OrderEmail
from apps.outbox.models import Delivery, DeliveryKind
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact, searched
from tests.portal.sign_in_links import ask, latest_link, use

DOWNLOADS = ("portal:entitlement", "portal:certificate", "portal:keys")
ADDRESS_DOWNLOADS = (
    "portal:address-entitlement",
    "portal:address-certificate",
    "portal:address-keys",
)
# Order addresses that are no contact's login (contacts' addresses come from the factory).
ADDRESSES = ("buyer0@orders.example", "buyer1@orders.example", "Buyer2@Orders.example")
SPELLINGS = (str.lower, str.upper, str.title)


class PortalVisibility(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    contacts = Bundle("contacts")
    shipped = Bundle("shipped")

    def __init__(self):
        super().__init__()
        # Each run works inside a savepoint of the test's transaction, undone at teardown.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.associated: set[tuple[int, int]] = set()  # (contact id, account id)
        self.entitlements: dict[str, set[int]] = {}  # SSRN -> its account ids
        self.addressed: set[tuple[str, str]] = set()  # (SSRN, its order's address, lower)
        self.client = Client()

    @rule(target=accounts)
    def add_account(self):
        return new_account()

    @rule(target=contacts)
    def add_contact(self):
        return portal_contact()

    @rule(contact=contacts, account=accounts)
    def associate(self, contact, account):
        AccountAssociation.objects.get_or_create(contact=contact, account=account)
        self.associated.add((contact.pk, account.pk))

    @rule(contact=contacts, account=accounts)
    def dissociate(self, contact, account):
        AccountAssociation.objects.filter(contact=contact, account=account).delete()
        self.associated.discard((contact.pk, account.pk))

    @rule(
        target=shipped,
        owners=st.lists(accounts, min_size=1, max_size=3, unique_by=lambda a: a.pk),
    )
    def ship(self, owners):
        entitlement = entitlement_of(*owners)
        ActivationFactory(entitlement=entitlement)  # so that it has a key file
        self.entitlements[entitlement.ssrn] = {account.pk for account in owners}
        return entitlement

    @rule(
        entitlement=shipped,
        address=st.sampled_from(ADDRESSES),
        spelling=st.sampled_from(SPELLINGS),
    )
    def address_the_order(self, entitlement, address, spelling):
        """The ERP puts an address on the entitlement's order, in some spelling."""
        order = entitlement.order_line.order
        if not OrderEmail.objects.filter(order=order, email__iexact=address).exists():
            OrderEmail.objects.create(order=order, email=spelling(address))
        self.addressed.add((entitlement.ssrn, address.lower()))

    @rule(entitlement=shipped, address=st.sampled_from(ADDRESSES))
    def take_the_address_off(self, entitlement, address):
        OrderEmail.objects.filter(
            order=entitlement.order_line.order, email__iexact=address
        ).delete()
        self.addressed.discard((entitlement.ssrn, address.lower()))

    @rule(address=st.sampled_from(ADDRESSES), spelling=st.sampled_from(SPELLINGS))
    def look_as_an_order_address(self, address, spelling):
        """The address asks for a link (in some spelling), signs in with it and opens every
        page and download; the contacts' pages refuse it."""
        client = Client()
        links = Delivery.objects.filter(kind=DeliveryKind.SIGN_IN_LINK)
        before = links.count()
        assert ask(client, spelling(address)).status_code == 302
        allowed = {ssrn for ssrn, email in self.addressed if email == address.lower()}
        if links.count() == before:  # on no order: no link was sent
            assert not any(email == address.lower() for _, email in self.addressed)
            return
        assert use(client, latest_link(address)[1]).status_code == 302

        page = client.get(reverse("portal:address-entitlements"))
        listed = {e.ssrn for e in page.context["page"].paginator.object_list}
        assert listed == allowed
        body = page.content.decode()
        assert not {ssrn for ssrn in self.entitlements if ssrn in body} - allowed

        owners = set().union(*(self.entitlements[ssrn] for ssrn in allowed))
        access = client.get(reverse("portal:address-access"))
        offered = {a.pk for a in access.context["form"].fields["account"].queryset}
        assert offered == owners

        for ssrn in self.entitlements:
            for name in ADDRESS_DOWNLOADS:
                status = client.get(reverse(name, args=[ssrn])).status_code
                assert status == (200 if ssrn in allowed else 404), (name, ssrn)
            for name in DOWNLOADS:
                assert client.get(reverse(name, args=[ssrn])).status_code == 302, (name, ssrn)
        assert client.get(reverse("portal:entitlements")).status_code == 302

    @rule(contact=contacts, search=st.sampled_from(["", "SN", "0"]))
    def look(self, contact, search):
        """The contact opens every page: the list, its CSV and every entitlement's pages."""
        self.client.force_login(contact.user)
        mine = {pk for contact_pk, pk in self.associated if contact_pk == contact.pk}
        allowed = {ssrn for ssrn, owners in self.entitlements.items() if owners & mine}

        page = self.client.get(reverse("portal:entitlements"), {"sort": "ssrn"})
        listed = {e.ssrn for e in page.context["page"].paginator.object_list}
        assert listed == allowed
        body = page.content.decode()
        assert not {ssrn for ssrn in self.entitlements if ssrn in body} - allowed

        listing = searched(self.client, search) if search else reverse("portal:entitlements")
        exported = self.client.get(listing, {"format": "csv"})
        rows = csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode()))
        assert {row["SSRN"] for row in rows} <= allowed

        for ssrn in self.entitlements:
            for name in DOWNLOADS:
                status = self.client.get(reverse(name, args=[ssrn])).status_code
                assert status == (200 if ssrn in allowed else 404), (name, ssrn)

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)


@pytest.mark.django_db
def test_no_page_or_download_leaks_an_entitlement(settings):
    # The machine asks for many links: the limits are tested in test_sign_in_links.py.
    settings.SIGN_IN_LINK_RATE = settings.SIGN_IN_LINK_CLIENT_RATE = "100000/h"
    run_state_machine_as_test(
        PortalVisibility,
        settings=hypothesis_settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
