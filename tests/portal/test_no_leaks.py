"""No page or download of the portal shows an entitlement to anyone who should not see it.

A state machine builds random accounts, contacts, associations (added and removed) and
entitlements shipped to random sets of accounts, and after its steps asks every page and
download, as every contact, whether it answers exactly what the associations allow.
"""

import csv
import io

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from apps.accounts.models import AccountAssociation
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact, searched

DOWNLOADS = ("portal:entitlement", "portal:certificate", "portal:keys")


class PortalVisibility(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    contacts = Bundle("contacts")

    def __init__(self):
        super().__init__()
        # Each run works inside a savepoint of the test's transaction, undone at teardown.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.associated: set[tuple[int, int]] = set()  # (contact id, account id)
        self.entitlements: dict[str, set[int]] = {}  # SSRN -> its account ids
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

    @rule(owners=st.lists(accounts, min_size=1, max_size=3, unique_by=lambda a: a.pk))
    def ship(self, owners):
        entitlement = entitlement_of(*owners)
        ActivationFactory(entitlement=entitlement)  # so that it has a key file
        self.entitlements[entitlement.ssrn] = {account.pk for account in owners}

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
def test_no_page_or_download_leaks_an_entitlement():
    run_state_machine_as_test(
        PortalVisibility,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
