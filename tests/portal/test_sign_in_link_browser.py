"""A sign-in link in a real browser: the page's script takes the token from the fragment,
under the Content Security Policy, and the address lands on its entitlements."""

import pytest
from playwright.sync_api import expect

from tests.portal.helpers import entitlement_of, new_account
from tests.portal.sign_in_links import latest_link, on_the_order_of
from tests.portal.test_in_a_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_order_address_asks_for_a_link_and_opens_it(browser, live_server):  # noqa: F811
    # Given an address on an order, which is no contact's login
    entitlement = entitlement_of(new_account(name="Harbor Works"))
    on_the_order_of(entitlement, "buyer@harbor.example")
    page = browser.new_page()
    violations = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and violations.append(message.text)
        ),
    )

    # When it asks for a link from the sign-in page
    page.goto(live_server.url + "/account/login/")
    page.get_by_role("link", name="Sign in with a link").click()
    page.get_by_label("Email address").fill("Buyer@Harbor.example")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    # And opens the emailed link (the fragment never reaches the server)
    url, token = latest_link("buyer@harbor.example")
    path = url.split("://", 1)[1].split("/", 1)[1]
    page.goto(f"{live_server.url}/{path}#{token}")
    expect(page.get_by_label("The link from the email")).to_be_hidden()
    assert "#" not in page.url
    page.get_by_role("button", name="Sign in").click()

    # Then it sees its order's entitlement, and the script broke no policy
    expect(page.get_by_role("heading", name="The entitlements of your orders")).to_be_visible()
    expect(page.get_by_text(entitlement.ssrn)).to_be_visible()
    assert not violations
