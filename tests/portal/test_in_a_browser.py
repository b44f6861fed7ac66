"""The portal and the admin in a real browser: Debian's Chromium, driven by Playwright."""

import pytest
from django.apps import apps
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from apps.backoffice.roles import CUSTOMER_CARE, role_groups_sync
from apps.core.actors import Job
from apps.entitlements.activations import activations_create
from apps.entitlements.lifecycle import entitlement_reinstate, entitlement_suspend
from apps.entitlements.models import Entitlement
from apps.fulfillment.services import order_lines_fulfil_due
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines, today
from tests.portal.helpers import (
    entitlement_of,
    new_account,
    pending_request,
    portal_contact,
    subscription_of,
)
from tests.services import chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(transactional_db, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are plain synchronous code that Django would otherwise refuse beside it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()
        # The test's queries ran beside Playwright's event loop, on connections of their own
        # that the database teardown would not otherwise close.
        connections.close_all()


def _sign_in(page, base_url: str, email: str, password: str = "password"):
    page.goto(base_url + "/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_customer_finds_an_entitlement_downloads_its_certificate_and_activates_two_devices(
    browser, live_server
):
    # Given Alice of Northwind, with an active subscription and an expired one
    northwind = new_account(name="Northwind Networks")
    alice = portal_contact(northwind, email="alice@northwind.example")
    active = subscription_of(
        northwind,
        ends_in_days=200,
        quantity=5,
        product=ProductFactory(name="Threat Defense", subscription=True),
    )
    expired = subscription_of(northwind, ends_in_days=-100)
    page = browser.new_page(accept_downloads=True)

    # When she signs in and shows the active ones
    _sign_in(page, live_server.url, alice.user.email)
    expect(page.get_by_role("heading", name="Your entitlements")).to_be_visible()
    expect(page.get_by_text(expired.ssrn)).to_be_visible()
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text(expired.ssrn)).to_have_count(0)

    # And opens the entitlement and downloads its certificate
    page.get_by_role("link", name="Threat Defense").click()
    expect(page.get_by_role("heading", name="Threat Defense")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the certificate (PDF)").click()
    assert download.value.suggested_filename == (
        f"Keyship-Entitlement-Certificate-{active.ssrn}.pdf"
    )
    assert open(download.value.path(), "rb").read().startswith(b"%PDF")

    # And activates two devices, pasted one per line
    page.get_by_label("Device serial numbers").fill("FTX2231A0BC\nFTX2231A0BD")
    page.get_by_role("button", name="Activate").click()

    # Then she sees their keys and two of five seats used
    expect(page.locator("#seats-used")).to_have_text("2 / 5")
    expect(page.locator("pre.key")).to_have_count(2)
    expect(page.locator("#activations")).to_contain_text("FTX2231A0BD")


def test_customer_care_associates_a_contact_who_then_sees_the_accounts_entitlements(
    browser, live_server
):
    # Given Bob, who sees nothing yet, and an entitlement of Blue Harbor
    role_groups_sync(apps)  # the roles' groups, which a transactional test starts without
    care = UserFactory(email="care@keyship.example", is_staff=True)
    care.groups.add(apps.get_model("auth", "Group").objects.get(name=CUSTOMER_CARE))
    blue_harbor = new_account(name="Blue Harbor")
    entitlement = entitlement_of(blue_harbor)
    bob = portal_contact(email="bob@blueharbor.example")
    bob_page = browser.new_context().new_page()
    _sign_in(bob_page, live_server.url, bob.user.email)
    expect(bob_page.get_by_text("No entitlements match.")).to_be_visible()

    # When Customer Care asks why Bob does not see it, and associates him
    admin = browser.new_context().new_page()
    admin.goto(f"{live_server.url}/admin/")
    admin.get_by_label("Email address").fill(care.email)
    admin.get_by_label("Password").fill("password")
    admin.get_by_role("button", name="Log in").click()
    admin.goto(f"{live_server.url}/admin/visibility/")
    admin.get_by_label("Contact ID or email address").fill(bob.user.email)
    admin.get_by_label("SSRN").fill(entitlement.ssrn)
    admin.get_by_role("button", name="Explain").click()
    expect(admin.locator("#verdict")).to_contain_text("does not see")
    admin.get_by_role("link", name="associate").click()
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")

    # Then Bob sees it on his next page load
    bob_page.reload()
    expect(bob_page.get_by_text(entitlement.ssrn)).to_be_visible()


def test_on_a_phone_every_page_fits_the_screen_and_every_field_has_a_label(browser, live_server):
    # Long names, in filters and tables, are what push a narrow page sideways.
    northwind = new_account(name="Northwind Networks International Holdings and Partners GmbH")
    alice = portal_contact(northwind, email="alice@northwind.example")
    alice.associations.update(is_admin=True)  # so that the customer admin's page is hers
    pending_request(northwind, reason="Our partner runs the firewalls of all sites " * 3)
    entitlement = subscription_of(northwind, ends_in_days=200, quantity=5)
    page = browser.new_page(viewport={"width": 375, "height": 740}, is_mobile=True)
    _sign_in(page, live_server.url, alice.user.email)

    for path in (
        "/entitlements/",
        f"/entitlements/{entitlement.ssrn}/",
        "/activate/",
        "/access/",
        "/legacy-keys/",
        "/customer-admin/",
    ):
        page.goto(live_server.url + path)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
        assert page.locator("h1").count() == 1, path
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !e.labels.length && !e.getAttribute('aria-label'))
                 .map(e => e.name)"""
        )
        assert unlabelled == [], path


def test_no_page_breaks_the_content_security_policy(browser, live_server):
    # Given a customer's entitlement with a device, and a superuser
    northwind = new_account(name="Northwind Networks")
    alice = portal_contact(northwind, email="alice@northwind.example")
    entitlement = subscription_of(northwind, ends_in_days=200, quantity=5)
    superuser = UserFactory(email="admin@keyship.example", is_staff=True, is_superuser=True)
    violations = []

    def watch(page):
        def seen(message):
            # Redoc's "powered by" logo comes from its makers' site: blocked, as it should be.
            if "Content Security Policy" in message.text and "cdn.redoc.ly" not in message.text:
                violations.append(f"{page.url}: {message.text}")

        page.on("console", seen)
        return page

    # When the customer goes through the portal, and anyone through the public pages
    customer = watch(browser.new_context().new_page())
    _sign_in(customer, live_server.url, alice.user.email)
    customer.get_by_role("link", name=entitlement.product.name).first.click()
    customer.get_by_label("Device serial numbers").fill("FTX2231A0BC")
    customer.get_by_role("button", name="Activate").click()
    expect(customer.locator("pre.key")).to_have_count(1)
    alice.associations.update(is_admin=True)
    for path in (
        "/activate/",
        "/access/",
        "/legacy-keys/",
        "/customer-admin/",
        f"/verify/{entitlement.ssrn}/",
    ):
        customer.goto(live_server.url + path)
    customer.goto(live_server.url + "/api/docs/")
    expect(customer.get_by_text("Keyship ERP API").first).to_be_visible()

    # And the superuser through the admin: its front page, a list with actions, a form with
    # autocomplete fields and date pickers, and the search
    staff = watch(browser.new_context().new_page())
    staff.goto(f"{live_server.url}/admin/")
    staff.get_by_label("Email address").fill(superuser.email)
    staff.get_by_label("Password").fill("password")
    staff.get_by_role("button", name="Log in").click()
    for path in (
        "/admin/",
        "/admin/entitlements/entitlement/",
        f"/admin/entitlements/entitlement/{entitlement.pk}/change/",
        f"/admin/accounts/contact/{alice.pk}/change/",
        "/admin/orders/orderline/",
        "/admin/orders/salesorder/add/",
        "/admin/catalog/product/add/",
        "/admin/find/?q=" + entitlement.ssrn,
        "/admin/visibility/",
        "/admin/import/",
        "/admin/upcoming-expiries/",
        "/admin/dashboard/",
    ):
        staff.goto(live_server.url + path)
        staff.wait_for_load_state("networkidle")
    staff.goto(f"{live_server.url}/admin/accounts/contact/{alice.pk}/change/")
    staff.locator(".select2-selection").first.click()
    expect(staff.locator(".select2-search__field").first).to_be_visible()

    # Then the policy blocked nothing they needed
    assert violations == []


def test_a_customer_reads_the_entitlements_event_log_newest_first(browser, live_server):
    # Given an entitlement that shipped, was activated on a device, suspended by a named
    # member of Customer Care with a reason, and reinstated
    northwind = new_account(name="Northwind Networks")
    alice = portal_contact(northwind, email="alice@northwind.example")
    order = order_with_lines(dates=[today()], end_customer=northwind)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get(order_line__order=order)
    activations_create(
        entitlement_id=entitlement.pk, serial_numbers=["FTX2231A0BC"], actor=alice.user
    )
    carla = UserFactory(email="carla@keyship.example", name="Carla Care", is_staff=True)
    entitlement_suspend(entitlement_id=entitlement.pk, reason="Unpaid invoice 4711", actor=carla)
    entitlement_reinstate(entitlement_id=entitlement.pk, reason="Invoice paid", actor=carla)
    page = browser.new_page()

    # When Alice signs in and opens the entitlement
    _sign_in(page, live_server.url, alice.user.email)
    page.get_by_role("link", name="Threat Defense").click()
    expect(page.get_by_role("heading", name="Event log")).to_be_visible()

    # Then its event log tells the story, newest first, with the reasons and no staff name
    log = page.get_by_role("table", name="Event log")
    rows = log.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("Reinstated")
    expect(rows.nth(0)).to_contain_text("Reason: Invoice paid")
    expect(rows.nth(1)).to_contain_text("Suspended")
    expect(rows.nth(1)).to_contain_text("Reason: Unpaid invoice 4711")
    expect(rows.nth(2)).to_contain_text("Devices activated")
    expect(rows.nth(2)).to_contain_text("FTX2231A0BC")
    expect(rows.nth(3)).to_contain_text("Shipped")
    expect(rows.nth(3)).to_contain_text(f"Sales order {order.order_number}, line 1.")
    expect(page.locator("main")).not_to_contain_text("Carla")
