"""The entitlement page's event log: what the customer's contacts read, what no one else reads,
and the page's queries; a suspended or revoked entitlement's page shows no legacy key."""

import pytest
from django.urls import reverse

from apps.catalog.models import DeliveryMethod
from apps.entitlements.activations import activations_create, activations_revoke
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import Activation
from apps.lms.models import LegacyKeyState
from apps.orders.models import OrderEmail
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.portal.sign_in_links import ask, latest_link, use

pytestmark = pytest.mark.django_db


@pytest.fixture
def carla():
    return UserFactory(is_staff=True, name="Carla Care", email="carla@keyship.example")


def log_rows(page) -> list[str]:
    body = page.content.decode()
    table = body[body.index('<table id="event-log"') :]
    table = table[: table.index("</table>")]
    rows = table.split("<tr>")[2:]  # the header first
    return [" ".join(row.replace("<br>", " ").split()) for row in rows]


def test_the_page_shows_the_log_newest_first_with_reasons_and_no_staff_name(client, carla):
    account = new_account()
    alice = portal_contact(account)
    entitlement = entitlement_of(account, quantity=3)
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["FTX-1"], actor=alice.user)
    entitlement_suspend(entitlement_id=entitlement.pk, reason="Unpaid invoice 4711", actor=carla)
    entitlement_reinstate(entitlement_id=entitlement.pk, reason="Invoice paid", actor=carla)
    client.force_login(alice.user)

    page = client.get(reverse("portal:entitlement", args=[entitlement.ssrn]))

    rows = log_rows(page)
    assert len(rows) == 3
    assert "Reinstated" in rows[0] and "Reason: Invoice paid" in rows[0]
    assert "Suspended" in rows[1] and "Reason: Unpaid invoice 4711" in rows[1]
    assert "Devices activated" in rows[2] and "Serial numbers: FTX-1." in rows[2]
    body = page.content.decode()
    assert "Carla" not in body and carla.email not in body


def test_a_reason_is_shown_as_text_never_as_markup(client, carla):
    account = new_account()
    alice = portal_contact(account)
    entitlement = entitlement_of(account)
    entitlement_suspend(
        entitlement_id=entitlement.pk, reason='<script>alert("x")</script>', actor=carla
    )
    client.force_login(alice.user)

    body = client.get(reverse("portal:entitlement", args=[entitlement.ssrn])).content.decode()

    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


def test_the_log_is_in_the_contacts_language(client, carla):
    account = new_account()
    anna = portal_contact(account)
    entitlement = entitlement_of(account)
    entitlement_suspend(entitlement_id=entitlement.pk, reason="Kreditlimit", actor=carla)
    client.force_login(anna.user)

    page = client.get(
        reverse("portal:entitlement", args=[entitlement.ssrn]), HTTP_ACCEPT_LANGUAGE="de"
    )

    assert "Ereignisprotokoll" in page.content.decode()
    assert "Gesperrt" in log_rows(page)[0] and "Kreditlimit" in log_rows(page)[0]


def test_another_accounts_contact_cannot_see_the_log(client, carla):
    entitlement = entitlement_of(new_account())
    entitlement_suspend(entitlement_id=entitlement.pk, reason="Unpaid invoice 4711", actor=carla)
    stranger = portal_contact(new_account())
    client.force_login(stranger.user)

    page = client.get(reverse("portal:entitlement", args=[entitlement.ssrn]))
    lowercase = client.get(reverse("portal:entitlement", args=[entitlement.ssrn.lower()]))

    assert page.status_code == lowercase.status_code == 404
    assert "Unpaid invoice 4711" not in page.content.decode()


def test_an_order_address_page_shows_no_reason(client, carla):
    """An order address signed in with a link is no contact of the accounts: its page
    shows no event log (the reasons are for the accounts' contacts)."""
    entitlement = entitlement_of(new_account())
    OrderEmail.objects.create(order=entitlement.order_line.order, email="buyer@orders.example")
    entitlement_suspend(entitlement_id=entitlement.pk, reason="Unpaid invoice 4711", actor=carla)
    ask(client, "buyer@orders.example")
    use(client, latest_link("buyer@orders.example")[1])

    page = client.get(reverse("portal:address-entitlement", args=[entitlement.ssrn]))

    assert page.status_code == 200
    assert "Unpaid invoice 4711" not in page.content.decode()


def test_the_pages_queries_do_not_grow_with_the_log(client, carla, django_assert_num_queries):
    account = new_account()
    alice = portal_contact(account)
    entitlement = entitlement_of(account, quantity=50)
    client.force_login(alice.user)
    url = reverse("portal:entitlement", args=[entitlement.ssrn])
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-0"], actor=alice.user)
    client.get(url)  # the session and the user's first reads

    # No transaction (the page only reads); the limit is 8 (benchmarks/portal.py).
    with django_assert_num_queries(7) as few:
        client.get(url)
    # The log costs the page one query.
    assert sum("entitlementchange" in q["sql"] for q in few.captured_queries) == 1
    for n in range(1, 30):
        activations_create(
            entitlement_id=entitlement.pk, serial_numbers=[f"SN-{n}"], actor=alice.user
        )
    activations_revoke(
        activation_ids=[Activation.objects.filter(entitlement=entitlement).first().pk],
        actor=carla,
        reason="RMA",
    )
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(url)

    assert len(log_rows(page)) == 31


@pytest.mark.parametrize("action", [entitlement_suspend, entitlement_revoke])
def test_a_suspended_or_revoked_heritage_entitlement_shows_no_key_on_its_pages(
    client, carla, action
):
    account = new_account()
    alice = portal_contact(account)
    product = ProductFactory(delivery_method=DeliveryMethod.HERITAGE_KEY)
    entitlement = entitlement_of(account, product=product)
    OrderEmail.objects.create(order=entitlement.order_line.order, email="buyer@orders.example")
    key = LegacyKeyFactory(
        product=product,
        state=LegacyKeyState.ASSIGNED,
        entitlement=entitlement,
        assigned_at=entitlement.created_at,
    ).license_key
    client.force_login(alice.user)
    url = reverse("portal:entitlement", args=[entitlement.ssrn])
    assert key in client.get(url).content.decode()
    address = type(client)()
    ask(address, "buyer@orders.example")
    use(address, latest_link("buyer@orders.example")[1])
    address_url = reverse("portal:address-entitlement", args=[entitlement.ssrn])
    assert key in address.get(address_url).content.decode()

    action(entitlement_id=entitlement.pk, reason="Credit hold", actor=carla)
    page = client.get(url).content.decode()
    address_page = address.get(address_url).content.decode()

    assert key not in page and key not in address_page
    assert "its license keys are not handed out" in page
    assert "its license keys are not handed out" in address_page
