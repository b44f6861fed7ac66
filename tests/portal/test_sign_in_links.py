"""Order addresses that are not contacts sign in with a link sent by email, once, for a
short while, and see exactly the entitlements of their orders; nothing else."""

import datetime
import logging
from urllib.parse import urlparse

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccessRequest, AccessRequestStatus, Contact
from apps.core.models import AuditEvent
from apps.orders.models import OrderEmail
from apps.outbox.models import Delivery
from apps.portal.models import SignInLink
from tests.api.conftest import api
from tests.factories.accounts import UserFactory
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.portal.sign_in_links import (
    ASK,
    LANDING,
    ask,
    latest_link,
    on_the_order_of,
    sign_in_as_address,
    use,
)

pytestmark = pytest.mark.django_db
BUYER = "buyer@harbor.example"
LIST = reverse("portal:address-entitlements")
SENT = reverse("portal:sign-in-link-sent")


@pytest.fixture
def order(db):
    """An entitlement (with an activated device) shipped on an order that BUYER is an
    address of, and one of another order for another customer."""
    mine = entitlement_of(new_account(account_id="0100012345"))
    ActivationFactory(entitlement=mine)
    on_the_order_of(mine, "Buyer@Harbor.example")
    foreign = entitlement_of(new_account(account_id="0100099999"))
    ActivationFactory(entitlement=foreign)
    on_the_order_of(foreign, "someone@else.example")
    return {"mine": mine, "foreign": foreign}


def _listed(client) -> set[str]:
    page = client.get(LIST)
    assert page.status_code == 200
    return {e.ssrn for e in page.context["page"].paginator.object_list}


def test_an_order_address_signs_in_with_the_emailed_link_and_sees_its_orders(
    client, order, django_capture_on_commit_callbacks
):
    login_page = client.get(reverse("login")).content.decode()
    assert ASK in login_page

    with django_capture_on_commit_callbacks(execute=True):
        answer = ask(client, "BUYER@harbor.EXAMPLE")

    assert answer.url == SENT
    (message,) = mail.outbox
    assert message.to == [BUYER]
    assert message.subject == "Keyship: your sign-in link"
    assert f"{LANDING}#" in message.body
    landing = client.get(LANDING)
    assert "portal/sign_in_link.js" in landing.content.decode()

    signed_in = use(client, latest_link(BUYER)[1])

    assert signed_in.url == LIST
    assert client.get(reverse("portal:home")).url == LIST
    assert _listed(client) == {order["mine"].ssrn}
    detail = client.get(reverse("portal:address-entitlement", args=[order["mine"].ssrn]))
    body = detail.content.decode()
    assert order["mine"].activation_code in body
    assert "read-only" in body
    assert 'action="/entitlements/' not in body  # no activation form
    certificate = client.get(reverse("portal:address-certificate", args=[order["mine"].ssrn]))
    assert certificate.status_code == 200
    keys = client.get(reverse("portal:address-keys", args=[order["mine"].ssrn]))
    assert keys.status_code == 200


def test_a_pasted_link_signs_in_too_without_the_pages_script(client, order):
    ask(client, BUYER)
    url, token = latest_link(BUYER)

    answer = client.post(LANDING, {"link": f" {url}#{token} "})

    assert answer.url == LIST


def test_a_link_works_once(client, order):
    ask(client, BUYER)
    _, token = latest_link(BUYER)
    assert use(client, token).status_code == 302
    other = Client()

    again = use(other, token)

    assert again.status_code == 400
    assert "does not work any more" in again.content.decode()
    assert other.get(LIST).url.startswith(reverse("login"))


def test_a_link_expires_after_its_minutes(client, order, settings):
    settings.SIGN_IN_LINK_MINUTES = 15
    ask(client, BUYER)
    _, token = latest_link(BUYER)

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        late = use(client, token)

    assert late.status_code == 400
    assert SignInLink.objects.get().used_at is None


def test_a_new_link_ends_the_older_unused_ones(client, order):
    ask(client, BUYER)
    _, first = latest_link(BUYER)
    ask(client, BUYER)
    _, second = latest_link(BUYER)

    assert use(client, first).status_code == 400
    assert use(client, second).status_code == 302


def test_opening_the_link_uses_nothing_up(client, order):
    ask(client, BUYER)
    url, token = latest_link(BUYER)
    path = urlparse(url).path

    for _ in range(3):  # a mail scanner, a preview, the person
        assert client.get(path).status_code == 200

    assert use(client, token).url == LIST


def test_the_token_reaches_no_address_log_or_stored_row(client, order):
    records = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        ask(client, BUYER)
        url, token = latest_link(BUYER)
        use(client, token)
        use(Client(), token)  # refused: a warning, if anything logs one
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    parsed = urlparse(url)
    assert token not in parsed.path and token not in parsed.query
    assert not [r for r in records if token in r.getMessage()]
    delivery = Delivery.objects.get()
    assert token not in f"{delivery.topic} {delivery.about} {delivery.payload}"
    assert token not in delivery.content_sealed
    assert token not in str(list(SignInLink.objects.values()))
    assert token not in str(list(AuditEvent.objects.values()))


def test_the_answer_is_the_same_for_every_address_and_only_the_emails_differ(
    client, order, django_capture_on_commit_callbacks
):
    contact = portal_contact(email="alice@northwind.example")
    on_the_order_of(order["mine"], "alice@northwind.example")
    staff = UserFactory(email="ops@keyship.example", is_staff=True)
    on_the_order_of(order["mine"], staff.email)

    with django_capture_on_commit_callbacks(execute=True):
        emails = (BUYER, "nobody@nowhere.example", contact.user.email, "OPS@keyship.example")
        answers = [ask(client, email) for email in emails]

    assert {answer.status_code for answer in answers} == {302}
    assert {answer.url for answer in answers} == {SENT}
    assert [m.to for m in mail.outbox] == [[BUYER], ["alice@northwind.example"]]
    note = mail.outbox[1]
    assert note.subject == "Keyship: how to sign in"
    assert reverse("password_reset") in note.body
    assert LANDING not in note.body
    assert SignInLink.objects.count() == 1


def test_asking_is_limited_per_address_with_a_clear_message_and_no_writes(client, order, settings):
    settings.SIGN_IN_LINK_RATE = "2/h"
    answers = [ask(client, spelling) for spelling in (BUYER, BUYER.upper(), f" {BUYER} ")]

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Too many sign-in links" in answers[-1].content.decode()
    assert SignInLink.objects.count() == 2
    assert Delivery.objects.count() == 2
    assert AuditEvent.objects.filter(action="sign_in_link.sent").count() == 2
    # Another address is not held back by this one's.
    on_the_order_of(order["foreign"], "other@harbor.example")
    assert ask(client, "other@harbor.example").status_code == 302


def test_asking_is_limited_per_client(order, settings):
    settings.SIGN_IN_LINK_CLIENT_RATE = "3/h"
    client = Client(REMOTE_ADDR="203.0.113.5")
    answers = [ask(client, f"user{n}@harbor.example") for n in range(4)]

    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert ask(Client(REMOTE_ADDR="198.51.100.7"), BUYER).status_code == 302


def test_a_malformed_address_is_told_and_writes_nothing(client, order):
    answer = ask(client, "not an address")

    assert answer.status_code == 400
    assert "valid email address" in answer.content.decode()
    assert not SignInLink.objects.exists()


def test_the_session_sees_nothing_of_other_orders(client, order):
    sign_in_as_address(client, BUYER)
    foreign = order["foreign"].ssrn

    for name in ("address-entitlement", "address-certificate", "address-keys"):
        assert client.get(reverse(f"portal:{name}", args=[foreign])).status_code == 404
    assert foreign not in client.get(LIST).content.decode()
    access = client.get(reverse("portal:address-access")).content.decode()
    assert "0100012345" in access and "0100099999" not in access


def test_the_session_opens_no_other_page_download_or_api(client, order):
    sign_in_as_address(client, BUYER)
    mine = order["mine"].ssrn
    login = reverse("login")

    for name, args in [
        ("portal:entitlements", []),
        ("portal:entitlement", [mine]),
        ("portal:certificate", [mine]),
        ("portal:keys", [mine]),
        ("portal:access", []),
        ("portal:activate-with-code", []),
        ("portal:legacy-keys", []),
    ]:
        assert client.get(reverse(name, args=args)).url.startswith(login), name
    activate = client.post(reverse("portal:activate", args=[mine]), {"serial_numbers": "SN-9"})
    assert activate.url.startswith(login)
    assert client.get(reverse("admin:index")).url.startswith(reverse("admin:login"))
    assert client.get(reverse("api:entitlement", args=[mine])).status_code in (401, 403)


def test_an_address_taken_off_the_order_loses_its_entitlements_on_the_next_request(client, order):
    sign_in_as_address(client, BUYER)
    assert _listed(client) == {order["mine"].ssrn}

    OrderEmail.objects.filter(email__iexact=BUYER).delete()

    assert _listed(client) == set()
    detail = reverse("portal:address-entitlement", args=[order["mine"].ssrn])
    assert client.get(detail).status_code == 404


def test_the_session_is_short_new_and_signs_out(client, order, settings):
    settings.ORDER_ADDRESS_SESSION_AGE = 60 * 60
    contact = portal_contact(email="alice@northwind.example")
    client.force_login(contact.user)
    before = client.cookies["sessionid"].value

    sign_in_as_address(client, BUYER)

    assert client.cookies["sessionid"].value != before
    assert client.cookies["sessionid"]["max-age"] in (3600, 3599)
    assert client.get(reverse("portal:entitlements")).url.startswith(reverse("login"))

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=61)):
        assert client.get(LIST).url.startswith(reverse("login"))

    sign_in_as_address(client, BUYER)
    client.post(reverse("portal:address-sign-out"))
    assert client.get(LIST).url.startswith(reverse("login"))


def test_a_password_sign_in_ends_the_address_session(client, order):
    contact = portal_contact(email="alice@northwind.example")
    sign_in_as_address(client, BUYER)

    client.post(reverse("login"), {"username": contact.user.email, "password": "password"})

    assert client.get(LIST).url.startswith(reverse("login"))
    assert client.get(reverse("portal:entitlements")).status_code == 200
    assert "_session_expiry" not in client.session


def test_a_contacts_session_does_not_open_the_address_pages(client, order):
    contact = portal_contact(email=BUYER)
    client.force_login(contact.user)

    assert client.get(LIST).status_code == 302


def test_the_address_asks_for_access_and_customer_care_sees_it(client, order, admin_client):
    sign_in_as_address(client, BUYER)
    access = reverse("portal:address-access")

    answer = client.post(access, {"account": "0100012345", "reason": "I run their firewalls."})

    assert answer.url == access
    page = client.get(access).content.decode()
    assert "This address now has a Keyship login" in page
    (request,) = AccessRequest.objects.all()
    assert request.status == AccessRequestStatus.PENDING
    assert request.contact.user.email == BUYER
    assert not request.contact.user.has_usable_password()
    queue = admin_client.get(reverse("admin:accounts_accessrequest_changelist"))
    assert request.contact.contact_id in queue.content.decode()
    # Asking again uses the same contact and the same pending request.
    client.post(access, {"account": "0100012345", "reason": "Still."})
    assert Contact.objects.filter(user__email__iexact=BUYER).count() == 1
    assert AccessRequest.objects.count() == 1


def test_the_address_cannot_ask_for_an_account_of_another_order(client, order):
    sign_in_as_address(client, BUYER)

    answer = client.post(
        reverse("portal:address-access"), {"account": "0100099999", "reason": "Let me in."}
    )

    assert answer.status_code == 400
    assert not AccessRequest.objects.exists()
    assert not Contact.objects.filter(user__email__iexact=BUYER).exists()


def test_the_list_and_detail_take_a_fixed_number_of_queries(
    client, order, django_assert_num_queries
):
    for _ in range(3):
        more = entitlement_of(new_account())
        on_the_order_of(more, BUYER)
        ActivationFactory(entitlement=more)
    sign_in_as_address(client, BUYER)
    mine = order["mine"].ssrn

    # the request's savepoint and its release, session, count, rows, accounts prefetch
    with django_assert_num_queries(6):
        client.get(LIST)
    # + session, entitlement, accounts, terms, activations, certificate, legacy keys
    with django_assert_num_queries(9):
        client.get(reverse("portal:address-entitlement", args=[mine]))


def test_an_api_client_sees_no_order_address_pages(order):
    erp = api(scopes=[])
    assert erp.get(LIST).status_code == 302
