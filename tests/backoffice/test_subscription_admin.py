import datetime

import pytest
import time_machine
from django.urls import reverse

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.notifications.tasks import reminders_task
from tests.factories.entitlements import EntitlementAccountFactory
from tests.fulfillment.helpers import order_with_lines

D = datetime.date


def entitlement(ssrn, term_end, grace_end=None):
    role = EntitlementAccountFactory(
        entitlement__ssrn=ssrn,
        entitlement__starts_on=D(2026, 1, 1),
        entitlement__term_ends_on=term_end,
        entitlement__grace_ends_on=grace_end,
    )
    return role.entitlement


@pytest.mark.django_db
@time_machine.travel(datetime.datetime(2027, 11, 1, 9, tzinfo=datetime.UTC), tick=False)
def test_the_status_filter_follows_the_dates_and_shows_the_days_left(client, admin_user):
    client.force_login(admin_user)  # after the clock moved: a session from before has expired
    entitlement("ACTV-0000-0001", D(2027, 11, 21))
    entitlement("GRCE-0000-0001", D(2027, 10, 20), D(2027, 11, 19))
    entitlement("EXPD-0000-0001", D(2027, 9, 1), D(2027, 10, 1))
    url = reverse("admin:entitlements_entitlement_changelist")

    pages = {
        status: client.get(url, {"status": status}).content.decode()
        for status in ("active", "grace", "expired")
    }

    assert "ACTV-0000-0001" in pages["active"] and "GRCE-0000-0001" not in pages["active"]
    assert "Active, 20 days left" in pages["active"]
    assert "GRCE-0000-0001" in pages["grace"] and "In grace period, 18 days left" in pages["grace"]
    assert "EXPD-0000-0001" in pages["expired"] and "ACTV-0000-0001" not in pages["expired"]


@pytest.mark.django_db(transaction=True)
def test_upcoming_expiries_are_listed_by_account_with_the_reminders_sent(client, admin_user, smtp):
    with time_machine.travel(datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC), tick=False):
        order = order_with_lines(dates=[D(2026, 12, 1)])
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    ssrn = order.lines.get().entitlement.ssrn
    url = reverse("admin:upcoming_expiries")

    with time_machine.travel(datetime.datetime(2027, 9, 15, 9, tzinfo=datetime.UTC), tick=False):
        reminders_task()  # 77 days before the end: the 90-day reminder
        client.force_login(admin_user)
        within_30 = client.get(url).content.decode()
        within_90 = client.get(url, {"within": "90"}).content.decode()

    assert ssrn not in within_30
    end_customer = order.order_accounts.get(role="end_customer").account
    assert end_customer.account_id in within_90 and ssrn in within_90
    assert "90 (Sept. 15, 2027)" in within_90
