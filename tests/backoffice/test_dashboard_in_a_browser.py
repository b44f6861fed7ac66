"""The dashboard in a real browser (Debian's Chromium, driven by Playwright): Operations
sees a blocked line and a failed email, and sends the email again with one click."""

import pytest
from django.apps import apps
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from apps.backoffice.roles import OPERATIONS, role_groups_sync
from apps.core.models import ProcessKind
from apps.core.services import heartbeat_record
from apps.orders.models import LineStatus
from apps.outbox.models import DeliveryStatus
from tests.factories.accounts import UserFactory
from tests.factories.notifications import DeliveryFactory
from tests.factories.orders import OrderLineFactory
from tests.services import chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(transactional_db, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # plain synchronous code that Django would otherwise refuse beside it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()
        connections.close_all()


def test_operations_sees_a_blocked_line_and_a_failed_email_and_sends_it_again(browser, live_server):
    # Given a line blocked for want of legacy keys, an email the mail server refused for
    # good, beat and the workers alive, and a member of Operations
    role_groups_sync(apps)  # the roles' groups, which a transactional test starts without
    ops = UserFactory(email="ops@keyship.example", is_staff=True)
    ops.groups.add(apps.get_model("auth", "Group").objects.get(name=OPERATIONS))
    reason = 'waiting for 3 more legacy keys of "KS-LEGACY-9"'
    OrderLineFactory(status=LineStatus.BLOCKED, status_reason=reason, waiting_for_keys=3)
    email = DeliveryFactory(
        status=DeliveryStatus.FAILED, attempts=9, last_error="550 mailbox unavailable"
    )
    heartbeat_record(kind=ProcessKind.BEAT, host="beat-host")
    for queue in ("fulfillment", "pdf", "mail", "webhooks"):
        heartbeat_record(kind=ProcessKind.WORKER, host="celery@worker-1", queue=queue)

    # When Operations signs in to the admin
    page = browser.new_page()
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email address").fill(ops.email)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()

    # Then the front page shows the blocked line by its reason, and the failed email
    lines = page.locator("#dashboard-lines")
    expect(lines.get_by_role("row", name="Blocked")).to_contain_text("1")
    expect(lines.get_by_role("row", name=reason)).to_contain_text("1")
    emails = page.locator("#queue-emails")
    expect(emails.locator("td").nth(3)).to_have_text("1")  # failed
    expect(page.get_by_role("alert")).to_have_count(0)  # beat and workers seen

    # And its failed count opens the list with that email
    emails.locator("td").nth(3).get_by_role("link").click()
    expect(page.get_by_role("link", name=email.recipient)).to_be_visible()
    page.go_back()

    # When Operations clicks "Retry all failed" on the emails' row
    emails.get_by_role("button", name="Retry all failed").click()

    # Then the email is queued again, and the page no longer counts it as failed
    expect(page.locator(".messagelist")).to_contain_text("1 failed item queued again.")
    expect(page.locator("#queue-emails td").nth(3)).to_have_text("0")
    expect(page.locator("#queue-emails").get_by_role("button")).to_have_count(0)
    email.refresh_from_db()
    assert email.status != DeliveryStatus.FAILED
