"""The portal's Seats page: seats owned, used and free over the contact's own accounts."""

import pytest
from django.urls import reverse

from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db
SEATS = reverse("portal:seats")


def _rows(response) -> str:
    """The page's main content (the footer's language form repeats the address)."""
    html = response.content.decode()
    return html[html.index('<main id="main">') : html.index("</main>")]


def test_a_contact_sees_the_seats_of_each_of_their_accounts_and_no_other(client):
    # Given a contact of two accounts, and an account they are not associated with
    mine, also_mine, theirs = new_account(), new_account(), new_account()
    product = ProductFactory(name="Flight planner")
    ActivationFactory(entitlement=entitlement_of(mine, product=product, quantity=5))
    entitlement_of(also_mine, product=product, quantity=3)
    secret = ProductFactory(name="Someone else's product")
    entitlement_of(theirs, product=secret, quantity=40)
    client.force_login(portal_contact(mine, also_mine).user)

    # When they open the Seats page
    page = client.get(SEATS)

    # Then each of their accounts has its row: owned, used, free
    assert page.status_code == 200
    html = _rows(page)
    assert mine.account_id in html and also_mine.account_id in html
    assert "<td>5</td><td>1</td>" in html and "<td>3</td><td>0</td>" in html
    assert theirs.account_id not in html and "Someone else" not in html


def test_an_address_naming_another_account_shows_nothing_of_it(client):
    mine, theirs = new_account(), new_account()
    entitlement_of(mine, quantity=2)
    entitlement_of(theirs, product=ProductFactory(name="Not yours"), quantity=9)
    client.force_login(portal_contact(mine).user)

    for query in (
        {"account": theirs.account_id},
        {"account_id": theirs.account_id},
        {"accounts": theirs.pk},
        {"page": "999"},
        {"page": "x" * 5000},
    ):
        html = _rows(client.get(SEATS, query))
        assert theirs.account_id not in html and "Not yours" not in html


def test_another_contacts_session_sees_only_that_contacts_accounts(client):
    mine, theirs = new_account(), new_account()
    entitlement_of(mine, product=ProductFactory(name="Mine only"), quantity=2)
    entitlement_of(theirs, quantity=2)
    client.force_login(portal_contact(theirs).user)

    html = _rows(client.get(SEATS, {"account": mine.account_id}))

    assert mine.account_id not in html and "Mine only" not in html
    assert theirs.account_id in html


def test_a_visitor_is_sent_to_the_login(client):
    response = client.get(SEATS)
    assert response.status_code == 302 and reverse("login") in response.url


def test_a_login_without_a_contact_sees_an_empty_page(client):
    from tests.factories.accounts import UserFactory

    entitlement_of(new_account(), quantity=2)
    client.force_login(UserFactory())

    page = client.get(SEATS)

    assert page.status_code == 200
    assert "None of your accounts has an entitlement yet." in _rows(page)


def test_the_page_runs_the_same_queries_for_many_accounts(client, django_assert_max_num_queries):
    accounts = [new_account() for _ in range(6)]
    for account in accounts:
        for _ in range(2):
            ActivationFactory(entitlement=entitlement_of(account, quantity=3))
    client.force_login(portal_contact(*accounts).user)

    # session, user, count, page of accounts, the rollup; the transaction; the navigation
    with django_assert_max_num_queries(8):
        assert client.get(SEATS).status_code == 200
