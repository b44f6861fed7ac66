import datetime

import pytest
import time_machine

from apps.core.dates import business_today
from apps.entitlements.models import Entitlement
from apps.entitlements.terms import add_months, initial_term, renewal_term
from tests.factories.entitlements import EntitlementFactory

D = datetime.date


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 31), 1, D(2026, 2, 28)),  # the month's last day where the day is missing
        (D(2028, 1, 31), 1, D(2028, 2, 29)),  # leap year
        (D(2028, 2, 29), 12, D(2029, 2, 28)),
        (D(2026, 3, 31), 1, D(2026, 4, 30)),
        (D(2026, 11, 15), 3, D(2027, 2, 15)),  # across the year
        (D(2026, 12, 1), 12, D(2027, 12, 1)),
        (D(2026, 5, 31), 36, D(2029, 5, 31)),
    ],
)
def test_months_are_added_by_the_calendar(day, months, expected):
    assert add_months(day, months) == expected


def test_an_initial_subscription_gets_30_days_of_grace_and_a_perpetual_license_no_timer():
    assert initial_term(D(2026, 12, 1), 12) == (D(2027, 12, 1), D(2027, 12, 31))
    assert initial_term(D(2026, 1, 31), 1) == (D(2026, 2, 28), D(2026, 3, 30))
    assert initial_term(D(2026, 12, 1), None) == (None, None)


END = D(2027, 12, 1)


@pytest.mark.parametrize(
    ("shipped_on", "start", "end"),
    [
        (D(2027, 10, 1), D(2027, 12, 2), D(2028, 12, 1)),  # early: continues after the end
        (D(2027, 12, 1), D(2027, 12, 2), D(2028, 12, 1)),  # on the last day
        (D(2028, 3, 1), D(2027, 12, 2), D(2028, 12, 1)),  # three months late: backdated
        (D(2028, 11, 30), D(2027, 12, 2), D(2028, 12, 1)),  # still under twelve months
        (D(2029, 1, 2), D(2029, 1, 2), D(2030, 1, 2)),  # thirteen months late: starts anew
    ],
)
def test_a_renewal_continues_the_term_unless_it_lapsed_for_twelve_months(shipped_on, start, end):
    assert renewal_term(current_end=END, shipped_on=shipped_on, months=12) == (start, end)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "moment", "status"),
    [
        ("Asia/Tokyo", "2027-12-01T14:59:59+00:00", "active"),  # 23:59:59 on the last day there
        ("Asia/Tokyo", "2027-12-01T15:00:00+00:00", "grace"),  # midnight: the grace period begins
        ("America/Los_Angeles", "2027-12-02T07:59:59+00:00", "active"),
        ("America/Los_Angeles", "2027-12-02T08:00:00+00:00", "grace"),
    ],
)
def test_the_status_changes_at_midnight_in_the_business_time_zone(settings, zone, moment, status):
    settings.FULFILLMENT_TIME_ZONE = zone
    made = EntitlementFactory(
        starts_on=D(2026, 12, 1), term_ends_on=D(2027, 12, 1), grace_ends_on=D(2027, 12, 31)
    )

    with time_machine.travel(datetime.datetime.fromisoformat(moment), tick=False):
        assert Entitlement.objects.with_status(business_today()).get(pk=made.pk).status == status
