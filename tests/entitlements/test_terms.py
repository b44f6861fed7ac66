import datetime

import pytest

from apps.entitlements.terms import add_months, initial_term, renewal_term

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
