"""Dates in the business time zone (FULFILLMENT_TIME_ZONE)."""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_tz() -> ZoneInfo:
    return ZoneInfo(settings.FULFILLMENT_TIME_ZONE)


def business_today(now: datetime.datetime | None = None) -> datetime.date:
    """Today's date where the business is; a ship date is due once this date reaches it."""
    return (now or timezone.now()).astimezone(business_tz()).date()


def business_day_start(day: datetime.date) -> datetime.datetime:
    """The moment `day` begins where the business is: when a line of that ship date is due."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=business_tz())
