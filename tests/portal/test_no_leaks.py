"""No page or download of the portal shows an entitlement to anyone who should not see it.

A state machine builds random accounts, contacts, associations (added and removed),
entitlements shipped to random sets of accounts, and addresses put on and taken off their
orders, and after its steps asks every page and download, as every contact and as every
order address signed in with a sign-in link, whether it answers exactly what the
associations (for a contact) or the orders (for an address) allow.

Customer admins too: contacts are made admin of accounts, ask for access to accounts, and
admins decide random requests (of their accounts, or, as an attack, of others) and remove
random associations. The customer admin's page must show exactly the pending requests and
the contacts of the accounts its viewer administers, and no customer admin may ever have
decided a request of an account they did not administer.

Customer Care acts on the entitlements too, through the lifecycle services with a staff
actor: suspends, reinstates and revokes them (each with a reason of its own). A suspended or
revoked entitlement hands out no license key, on no page and in no download, to anyone; its
page still shows its event log, with the reasons of its own actions and of no other
entitlement. Each lifecycle action is one @rule that names the states it applies to
(`_lifecycle`).

Customer Care also moves entitlements, through the services with the same staff actor:
transfers one to another account of the machine's world, splits seats off to a new
entitlement (for the same accounts or another one), and rehosts a device's activation to a
replacement. Each updates the model every check reads (`self.entitlements`, the codes, the
live keys, which orders' addresses still see what), so the checks hold through them: no
contact ever sees another account's entitlement, activation code or key; a previous owner
sees neither the transferred entitlement nor its new code, and no page shows a code a
transfer replaced; an order's address stops seeing what was transferred or split off; a
rehosted device's old key is revoked (named by the revocation list, in no download).
"""

import csv
import io
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.accounts.models import AccessRequest, Account, AccountAssociation
from apps.accounts.services import MAX_PENDING_ACCESS_REQUESTS, access_request_create
from apps.catalog.models import DeliveryMethod
from apps.core.contracts import Rejected
from apps.entitlements.activations import activations_create
from apps.entitlements.license_keys import license_key_read
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import Entitlement
from apps.entitlements.rehosts import activation_rehost
from apps.entitlements.revocations import revocation_list_build
from apps.entitlements.transfers import entitlement_split, entitlement_transfer
from apps.lms.models import LegacyKeyState
from apps.orders.models import OrderEmail
from apps.outbox.models import Delivery, DeliveryKind
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory
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
ADMIN_PAGE = reverse("portal:customer-admin")
KEY_DOWNLOADS = ("portal:keys", "portal:address-keys")
CERTIFICATE_DOWNLOADS = ("portal:certificate", "portal:address-certificate")
# An entitlement's state for the lifecycle actions; only an active one hands out keys.
ACTIVE, SUSPENDED, REVOKED = "active", "suspended", "revoked"


def _shows(body: str, email: str) -> bool:
    """Whether the page shows this address (user1@... is not in user11@...)."""
    return re.search(rf"(?<![\w.+-]){re.escape(email)}(?![\w-])", body) is not None


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
        self.addressed: set[tuple[int, str]] = set()  # (order id, its address, lower)
        self.order_of: dict[str, int] = {}  # SSRN -> its order's id (a split shares it)
        # Transferred or split off: its order's addresses no longer see it.
        self.moved: set[str] = set()
        self.admins: set[tuple[int, int]] = set()  # (contact id, account id) marked admin
        self.requests: dict[int, dict] = {}  # access request id -> account, contact, status
        # Requests a customer admin decided, with who and which account, when the model said
        # they administered it.
        self.admin_decided: dict[int, tuple[int, int]] = {}
        self.emails: dict[int, str] = {}  # contact id -> login address
        self.users: dict = {}  # contact id -> login
        self.keys: dict[str, list[str]] = {}  # SSRN -> its license keys, in clear
        self.live: dict[str, list] = {}  # SSRN -> its live activations (pk, key); heritage: []
        self.heritage: set[str] = set()  # SSRNs of heritage products (a legacy key, no seats)
        self.quantity: dict[str, int] = {}  # SSRN -> its seats
        # Split off: its certificate is queued, not rendered (no worker runs here).
        self.uncertified: set[str] = set()
        self.codes: dict[str, str] = {}  # SSRN -> its activation code now
        self.old_codes: set[str] = set()  # codes a transfer replaced: shown nowhere any more
        self.rehosted_keys: list[str] = []  # keys of devices moved to a replacement
        self.serials = 0  # replacement devices' serial numbers, each new
        self.states: dict[str, str] = {}  # SSRN -> ACTIVE, SUSPENDED or REVOKED
        self.reasons: dict[str, list[str]] = {}  # SSRN -> reasons given for its actions
        # Reasons given to the owners before a transfer: no page shows them since.
        self.withheld: set[str] = set()
        self.staff = UserFactory(is_staff=True, name="Carla Care-Staff")
        self.client = Client()

    @rule(target=accounts)
    def add_account(self):
        return new_account()

    @rule(target=contacts)
    def add_contact(self):
        contact = portal_contact()
        self.emails[contact.pk] = contact.user.email
        self.users[contact.pk] = contact.user
        return contact

    @rule(contact=contacts, account=accounts)
    def associate(self, contact, account):
        AccountAssociation.objects.get_or_create(contact=contact, account=account)
        self.associated.add((contact.pk, account.pk))

    @rule(contact=contacts, account=accounts)
    def dissociate(self, contact, account):
        AccountAssociation.objects.filter(contact=contact, account=account).delete()
        self.associated.discard((contact.pk, account.pk))
        self.admins.discard((contact.pk, account.pk))

    @rule(contact=contacts, account=accounts)
    def make_admin(self, contact, account):
        """Customer Care marks the contact admin of the account (associating it if need be)."""
        AccountAssociation.objects.update_or_create(
            contact=contact, account=account, defaults={"is_admin": True}
        )
        self.associated.add((contact.pk, account.pk))
        self.admins.add((contact.pk, account.pk))

    @rule(contact=contacts, account=accounts)
    def ask_for_access(self, contact, account):
        try:
            asked = access_request_create(
                contact=contact,
                account_id=account.account_id,
                reason=f"reason-{contact.pk}-x",
                actor=contact.user,
            )
        except Rejected:
            waiting = [r for r in self.requests.values() if r["contact"] == contact.pk]
            assert (contact.pk, account.pk) in self.associated or (
                sum(r["status"] == "pending" for r in waiting) >= MAX_PENDING_ACCESS_REQUESTS
            )
            return
        self.requests.setdefault(
            asked.pk, {"account": account.pk, "contact": contact.pk, "status": "pending"}
        )

    @rule(contact=contacts, pick=st.integers(0, 1000), approve=st.booleans())
    def admin_decides(self, contact, pick, approve):
        """The contact posts a decision on a random request: one of an account it
        administers, or of any other account (an attack), or one that does not exist."""
        ids = sorted(self.requests)
        request_id = ids[pick % len(ids)] if ids and pick < 900 else 10**9 + pick
        known = self.requests.get(request_id)
        allowed = (
            known is not None
            and known["status"] == "pending"
            and (contact.pk, known["account"]) in self.admins
        )
        self.client.force_login(contact.user)
        url = reverse("portal:customer-admin-decide", args=[request_id])
        response = self._post(url, {"decision": "approve" if approve else "deny"})
        if known is None or (contact.pk, known["account"]) not in self.admins:
            assert response.status_code == 404, (request_id, response.status_code)
        else:
            assert response.status_code == 302
        status = AccessRequest.objects.filter(pk=request_id).values_list("status", flat=True)
        if not allowed:
            assert list(status) == ([known["status"]] if known else [])
            return
        known["status"] = "approved" if approve else "denied"
        assert list(status) == [known["status"]]
        self.admin_decided[request_id] = (contact.pk, known["account"])
        if approve:
            self.associated.add((known["contact"], known["account"]))

    @rule(contact=contacts, pick=st.integers(0, 1000))
    def admin_removes(self, contact, pick):
        """The contact posts the removal of a random association, its accounts' or not."""
        rows = sorted(AccountAssociation.objects.values_list("pk", "contact", "account"))
        if not rows:
            return
        pk, member, account = rows[pick % len(rows)]
        mine = {a for c, a in self.admins if c == contact.pk}
        allowed = account in mine and (
            (member, account) not in self.admins or (member == contact.pk and len(mine) > 1)
        )
        self.client.force_login(contact.user)
        response = self._post(reverse("portal:customer-admin-remove", args=[pk]))
        assert response.status_code == (302 if account in mine else 404)
        assert AccountAssociation.objects.filter(pk=pk).exists() is not allowed
        if allowed:
            self.associated.discard((member, account))
            self.admins.discard((member, account))

    def _post(self, url, data=None):
        """Post as a browser does: it follows the redirect, which shows (and so uses up) the
        page's message, before the next user signs in on the same client."""
        response = self.client.post(url, data or {})
        if response.status_code == 302:
            assert self.client.get(response.url).status_code in (200, 404)
        return response

    @rule(contact=contacts)
    def admin_page(self, contact):
        """The customer admin's page shows exactly the pending requests and the contacts of
        the accounts the viewer administers, and no address or reason of any other."""
        mine = {a for c, a in self.admins if c == contact.pk}
        self.client.force_login(contact.user)
        page = self.client.get(ADMIN_PAGE)
        nav = self.client.get(reverse("portal:access")).content.decode()
        assert (f'href="{ADMIN_PAGE}"' in nav) is bool(mine)
        if not mine:
            assert page.status_code == 404
            return
        assert page.status_code == 200
        shown = {item.account.pk: item for item in page.context["accounts"]}
        assert set(shown) == mine
        expected_contacts = set()
        expected_requests = set()
        for account, item in shown.items():
            pending = {
                pk
                for pk, r in self.requests.items()
                if r["account"] == account and r["status"] == "pending"
            }
            assert {r.pk for r in item.pending} == pending
            members = {c for c, a in self.associated if a == account}
            assert {a.contact_id for a in item.associations} == members
            admins = {c for c, a in self.admins if a == account}
            assert {a.contact_id for a in item.associations if a.is_admin} == admins
            expected_contacts |= members | {self.requests[pk]["contact"] for pk in pending}
            expected_requests |= pending
        body = page.content.decode()
        for other, email in self.emails.items():
            if other not in expected_contacts and other != contact.pk:
                assert not _shows(body, email), email
        for pk, known in self.requests.items():
            if pk not in expected_requests and known["contact"] not in expected_contacts:
                assert f"reason-{known['contact']}-x" not in body

    @invariant()
    def no_customer_admin_decided_a_request_of_another_account(self):
        decided = AccessRequest.objects.filter(decided_by_customer_admin=True).values_list(
            "pk", "decided_by__contact", "account"
        )
        for pk, decider, account in decided:
            assert self.admin_decided.get(pk) == (decider, account), pk

    @rule(
        target=shipped,
        owners=st.lists(accounts, min_size=1, max_size=3, unique_by=lambda a: a.pk),
        heritage=st.booleans(),
        seats=st.integers(1, 4),
    )
    def ship(self, owners, heritage, seats):
        """An entitlement with a key: a device's signed key (activated by Customer Care, on
        one of its seats), or a heritage product's legacy key, which its page shows."""
        if heritage:
            product = ProductFactory(delivery_method=DeliveryMethod.HERITAGE_KEY)
            entitlement = entitlement_of(*owners, product=product, quantity=seats)
            key = LegacyKeyFactory(
                product=product,
                state=LegacyKeyState.ASSIGNED,
                entitlement=entitlement,
                assigned_at=entitlement.created_at,
            ).license_key
            self.heritage.add(entitlement.ssrn)
            self.live[entitlement.ssrn] = []
        else:
            entitlement = entitlement_of(*owners, quantity=seats)
            (activation,) = activations_create(
                entitlement_id=entitlement.pk,
                serial_numbers=[f"SN-{entitlement.pk}"],
                actor=self.staff,
            )
            key = activation.license_key
            self.live[entitlement.ssrn] = [(activation.pk, key)]
        self._known(entitlement, owners={account.pk for account in owners}, keys=[key])
        return entitlement

    def _known(self, entitlement, *, owners: set[int], keys: list[str]):
        ssrn = entitlement.ssrn
        self.entitlements[ssrn] = owners
        self.keys[ssrn] = keys
        self.states[ssrn] = ACTIVE
        self.reasons[ssrn] = []
        self.quantity[ssrn] = entitlement.quantity
        self.order_of[ssrn] = entitlement.order_line.order_id
        self.codes[ssrn] = Entitlement.objects.get(pk=entitlement.pk).activation_code

    def _lifecycle(self, entitlement, service, *, applies_to, becomes, action):
        """Customer Care's action through its service: done when the entitlement is in one
        of the states it applies to, refused (nothing changed) otherwise."""
        ssrn = entitlement.ssrn
        reason = f"reason-{action}-{ssrn}-{len(self.reasons[ssrn])}"
        try:
            service(entitlement_id=entitlement.pk, reason=reason, actor=self.staff)
        except Rejected:
            assert self.states[ssrn] not in applies_to, (action, ssrn, self.states[ssrn])
            return
        assert self.states[ssrn] in applies_to, (action, ssrn, self.states[ssrn])
        self.states[ssrn] = becomes
        self.reasons[ssrn].append(reason)
        self._look_as_a_colleague(entitlement)

    def _look_as_a_colleague(self, entitlement):
        """A new contact of one of the entitlement's accounts opens its page and asks for its
        keys, so that every action is looked at (the `look` rule looks as the others)."""
        ssrn = entitlement.ssrn
        row = entitlement.entitlement_accounts.filter(account__in=self.entitlements[ssrn])
        account = row.first().account
        colleague = portal_contact(account)
        self.associated.add((colleague.pk, account.pk))
        self.emails[colleague.pk], self.users[colleague.pk] = colleague.user.email, colleague.user
        self.client.force_login(colleague.user)
        page = self.client.get(reverse("portal:entitlement", args=[ssrn]))
        assert page.status_code == 200, ssrn
        self._check_page(page.content.decode(), ssrn)
        keys = self.client.get(reverse("portal:keys", args=[ssrn]))
        assert keys.status_code == self._expected_status("portal:keys", ssrn, {ssrn}), ssrn
        if keys.status_code == 200 and ssrn not in self.heritage:
            text = keys.content.decode()
            assert {key for key in self.keys[ssrn] if key in text} == {
                key for _pk, key in self.live[ssrn]
            }, ssrn

    @rule(entitlement=shipped)
    def suspend(self, entitlement):
        self._lifecycle(
            entitlement, entitlement_suspend, applies_to={ACTIVE}, becomes=SUSPENDED, action="s"
        )

    @rule(entitlement=shipped)
    def reinstate(self, entitlement):
        self._lifecycle(
            entitlement,
            entitlement_reinstate,
            applies_to={SUSPENDED},
            becomes=ACTIVE,
            action="i",
        )

    @rule(entitlement=shipped)
    def revoke(self, entitlement):
        self._lifecycle(
            entitlement,
            entitlement_revoke,
            applies_to={ACTIVE, SUSPENDED},
            becomes=REVOKED,
            action="r",
        )
        if self.states[entitlement.ssrn] == REVOKED:
            self.live[entitlement.ssrn] = []  # revoking ends its activations

    @rule(entitlement=shipped, to=accounts)
    def transfer(self, entitlement, to):
        """Customer Care transfers the entitlement to another account: done when it is
        active and not that account's alone already; its previous owners' contacts and its
        order's addresses stop seeing it, and its new code goes to no one else."""
        ssrn = entitlement.ssrn
        before = self.entitlements[ssrn]
        reason = f"reason-t-{ssrn}-{len(self.reasons[ssrn])}"
        applies = self.states[ssrn] == ACTIVE and before != {to.pk}
        last = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        try:
            entitlement_transfer(
                entitlement_id=entitlement.pk,
                account_ids=[to.account_id],
                reason=reason,
                actor=self.staff,
            )
        except Rejected:
            assert not applies, (ssrn, self.states[ssrn])
            return
        assert applies, (ssrn, self.states[ssrn], before, to.pk)
        self.old_codes.add(self.codes[ssrn])
        self.codes[ssrn] = code = Entitlement.objects.get(pk=entitlement.pk).activation_code
        self.entitlements[ssrn] = {to.pk}
        self.withheld.update(self.reasons[ssrn])
        self.reasons[ssrn] = [reason]
        self.moved.add(ssrn)
        # The code is written into an email when it leaves, and only to a contact of the
        # accounts that own it now.
        written = Delivery.objects.filter(pk__gt=last)
        owners_now = {self.emails[c].lower() for c, a in self.associated if a == to.pk}
        for delivery in written:
            assert code not in str(delivery.payload), delivery.kind
            if delivery.kind == DeliveryKind.ENTITLEMENT_HANDOVER:
                assert delivery.recipient.lower() in owners_now, delivery.recipient
        for account in before - {to.pk}:
            self._look_as_a_previous_owner(ssrn, account)
        self._look_as_a_colleague(entitlement)

    def _look_as_a_previous_owner(self, ssrn, account_pk):
        """A new contact of an account that owned the entitlement until a transfer: neither
        the entitlement nor its new code, on its list or its pages."""
        colleague = portal_contact(Account.objects.get(pk=account_pk))
        self.associated.add((colleague.pk, account_pk))
        self.emails[colleague.pk], self.users[colleague.pk] = colleague.user.email, colleague.user
        self.client.force_login(colleague.user)
        listed = self.client.get(reverse("portal:entitlements"))
        assert ssrn not in {e.ssrn for e in listed.context["page"].paginator.object_list}
        assert ssrn not in listed.content.decode()
        for name in DOWNLOADS:
            assert self.client.get(reverse(name, args=[ssrn])).status_code == 404, name
        for other in self.entitlements:
            if account_pk in self.entitlements[other]:
                page = self.client.get(reverse("portal:entitlement", args=[other]))
                assert self.codes[ssrn] not in page.content.decode(), other

    @rule(
        target=shipped,
        entitlement=shipped,
        quantity=st.integers(1, 3),
        to=st.one_of(st.none(), accounts),
    )
    def split(self, entitlement, quantity, to):
        """Customer Care splits seats off to a new entitlement, for the entitlement's own
        accounts (`to` None) or another one: done when it is active, activated on devices
        and keeps a seat and its devices' seats."""
        ssrn = entitlement.ssrn
        if to is None:  # the same accounts, the end customer first
            rows = sorted(
                entitlement.entitlement_accounts.select_related("account"),
                key=lambda row: (row.role != "end_customer", row.pk),
            )
            given = list(dict.fromkeys(row.account for row in rows))
        else:
            given = [to]
        free = self.quantity[ssrn] - len(self.live[ssrn])
        applies = (
            self.states[ssrn] == ACTIVE
            and ssrn not in self.heritage
            and quantity < self.quantity[ssrn]
            and quantity <= free
        )
        reason = f"reason-p-{ssrn}-{len(self.reasons[ssrn])}"
        try:
            split = entitlement_split(
                entitlement_id=entitlement.pk,
                quantity=quantity,
                account_ids=[account.account_id for account in given],
                reason=reason,
                actor=self.staff,
            )
        except Rejected:
            assert not applies, (ssrn, self.states[ssrn], quantity, self.quantity[ssrn], free)
            return multiple()
        assert applies, (ssrn, self.states[ssrn], quantity, self.quantity[ssrn], free)
        self.quantity[ssrn] -= quantity
        self.reasons[ssrn].append(reason)  # the source's event log tells it
        self._known(split, owners={account.pk for account in given}, keys=[])
        self.live[split.ssrn] = []
        self.moved.add(split.ssrn)
        self.uncertified.add(split.ssrn)
        self._look_as_a_colleague(split)
        return split

    @precondition(lambda self: any(self.live.values()))
    @rule(pick=st.integers(0, 1000))
    def rehost(self, pick):
        """Customer Care moves a device (one of any entitlement's) to a replacement: done
        when its entitlement is active; the old key is revoked, the new device gets a key."""
        devices = sorted((ssrn, *device) for ssrn, live in self.live.items() for device in live)
        ssrn, activation_pk, key = devices[pick % len(devices)]
        entitlement = Entitlement.objects.get(ssrn=ssrn)
        self.serials += 1
        reason = f"reason-h-{ssrn}-{len(self.reasons[ssrn])}"
        try:
            new = activation_rehost(
                activation_id=activation_pk,
                new_serial_number=f"rma-{self.serials}",  # stored upper case
                reason=reason,
                actor=self.staff,
            )
        except Rejected:
            assert self.states[ssrn] != ACTIVE, ssrn
            return
        assert self.states[ssrn] == ACTIVE, (ssrn, self.states[ssrn])
        assert new.serial_number == f"RMA-{self.serials}"
        self.live[ssrn] = [
            (new.pk, new.license_key) if pk == activation_pk else (pk, live_key)
            for pk, live_key in self.live[ssrn]
        ]
        self.keys[ssrn].append(new.license_key)
        self.rehosted_keys.append(key)
        self.reasons[ssrn].append(reason)
        self._look_as_a_colleague(entitlement)

    @invariant()
    def a_rehosted_devices_old_key_is_revoked(self):
        if not self.rehosted_keys:
            return
        listed = {row["fingerprint"] for row in revocation_list_build()["revoked"]}
        for key in self.rehosted_keys:
            assert license_key_read(key).fingerprint in listed

    def _expected_status(self, name: str, ssrn: str, allowed: set[str]) -> int:
        if ssrn not in allowed:
            return 404
        if name in KEY_DOWNLOADS and self.states[ssrn] != ACTIVE:
            return 403  # a suspended or revoked entitlement hands out no key
        if name in KEY_DOWNLOADS and ssrn not in self.heritage and not self.live[ssrn]:
            return 404  # no device activated yet (seats split off)
        if name in CERTIFICATE_DOWNLOADS and ssrn in self.uncertified:
            return 404  # "being prepared"
        return 200

    def _check_page(self, body: str, ssrn: str):
        """An entitlement's page: no key unless it is active; its own reasons in its event
        log, no other entitlement's, and never the staff member's name."""
        for key in self.keys[ssrn]:
            assert (key in body) is (self.states[ssrn] == ACTIVE and key.startswith("LEGACY-")), (
                ssrn,
                self.states[ssrn],
            )
        for other, reasons in self.reasons.items():
            for reason in reasons:
                assert (reason in body) is (other == ssrn), (ssrn, reason)
        for reason in self.withheld:
            assert reason not in body, (ssrn, reason)
        assert self.staff.name not in body
        self._check_codes(body, {ssrn})

    def _check_codes(self, body: str, allowed: set[str]):
        """No code of an entitlement the viewer does not see, and none a transfer replaced."""
        for other, code in self.codes.items():
            assert other in allowed or code not in body, other
        assert not [code for code in self.old_codes if code in body]

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
        self.addressed.add((order.pk, address.lower()))

    @rule(entitlement=shipped, address=st.sampled_from(ADDRESSES))
    def take_the_address_off(self, entitlement, address):
        OrderEmail.objects.filter(
            order=entitlement.order_line.order, email__iexact=address
        ).delete()
        self.addressed.discard((entitlement.order_line.order_id, address.lower()))

    @rule(address=st.sampled_from(ADDRESSES), spelling=st.sampled_from(SPELLINGS))
    def look_as_an_order_address(self, address, spelling):
        """The address asks for a link (in some spelling), signs in with it and opens every
        page and download; the contacts' pages refuse it."""
        client = Client()
        links = Delivery.objects.filter(kind=DeliveryKind.SIGN_IN_LINK)
        before = links.count()
        assert ask(client, spelling(address)).status_code == 302
        allowed = {
            ssrn
            for ssrn, order in self.order_of.items()
            if (order, address.lower()) in self.addressed and ssrn not in self.moved
        }
        if links.count() == before:  # on no order: no link was sent
            assert not any(email == address.lower() for _, email in self.addressed)
            return
        assert use(client, latest_link(address)[1]).status_code == 302

        page = client.get(reverse("portal:address-entitlements"))
        listed = {e.ssrn for e in page.context["page"].paginator.object_list}
        assert listed == allowed
        body = page.content.decode()
        assert not {ssrn for ssrn in self.entitlements if ssrn in body} - allowed
        self._check_codes(body, allowed)

        owners = set().union(*(self.entitlements[ssrn] for ssrn in allowed))
        access = client.get(reverse("portal:address-access"))
        offered = {a.pk for a in access.context["form"].fields["account"].queryset}
        assert offered == owners

        for ssrn in self.entitlements:
            for name in ADDRESS_DOWNLOADS:
                status = client.get(reverse(name, args=[ssrn])).status_code
                assert status == self._expected_status(name, ssrn, allowed), (name, ssrn)
            if ssrn in allowed:
                page = client.get(reverse("portal:address-entitlement", args=[ssrn]))
                self._check_codes(page.content.decode(), {ssrn})
                for key in self.keys[ssrn]:
                    assert (key in page.content.decode()) is (
                        self.states[ssrn] == ACTIVE and key.startswith("LEGACY-")
                    ), (ssrn, self.states[ssrn])
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
        self._check_codes(body, allowed)

        listing = searched(self.client, search) if search else reverse("portal:entitlements")
        exported = self.client.get(listing, {"format": "csv"})
        rows = csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode()))
        assert {row["SSRN"] for row in rows} <= allowed

        for ssrn in self.entitlements:
            for name in DOWNLOADS:
                response = self.client.get(reverse(name, args=[ssrn]))
                expected = self._expected_status(name, ssrn, allowed)
                assert response.status_code == expected, (name, ssrn)
                if name == "portal:entitlement" and expected == 200:
                    self._check_page(response.content.decode(), ssrn)

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
