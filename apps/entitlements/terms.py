"""Subscription terms by the calendar."""

import calendar
import datetime

INITIAL_GRACE = datetime.timedelta(days=30)


def add_months(day: datetime.date, months: int) -> datetime.date:
    """`day` plus `months` calendar months, on the month's last day where the day is missing
    (31 January + 1 month = 28 or 29 February)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def initial_term(
    starts_on: datetime.date, months: int | None
) -> tuple[datetime.date | None, datetime.date | None]:
    """(term end, grace end) of a first subscription starting on `starts_on`; a perpetual
    license (no months) has neither."""
    if not months:
        return None, None
    term_end = add_months(starts_on, months)
    return term_end, term_end + INITIAL_GRACE


# A renewal that ships less than this long after the current term ended still continues it.
BACKDATE_LIMIT_MONTHS = 12


def renewal_term(
    *, current_end: datetime.date, shipped_on: datetime.date, months: int
) -> tuple[datetime.date, datetime.date]:
    """(start, end) of a renewal term; a renewal has no grace period.

    It continues from the day after the current term end, also when it ships late, as
    long as it ships within 12 months of that end: the customer keeps their anniversary and
    the lapse is paid for. After a longer lapse it starts on the day it ships.
    """
    if shipped_on < add_months(current_end, BACKDATE_LIMIT_MONTHS):
        return current_end + datetime.timedelta(days=1), add_months(current_end, months)
    return shipped_on, add_months(shipped_on, months)
