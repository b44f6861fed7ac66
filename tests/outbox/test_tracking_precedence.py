"""Which tracking event a delivery shows, whatever order the ESP's events arrive in."""

import datetime
import itertools

import pytest

from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.outbox.services import delivery_build
from apps.outbox.tracking import delivery_tracking_record

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
ADDRESS = "buyer@northwind.example"


def _delivery():
    delivery = delivery_build(kind="fulfillment", topic="shipment:1", recipient=ADDRESS)
    delivery.esp_message_id = "<20261201.1@mg.keyship.example>"
    delivery.save()
    return delivery


def _record(delivery, event_type, minute, detail=""):
    return delivery_tracking_record(
        esp_message_id=delivery.esp_message_id,
        event_type=event_type,
        recipient=ADDRESS,
        timestamp=T0 + datetime.timedelta(minutes=minute),
        description=detail,
        actor=Job("mailgun_tracking_webhook"),
    )


# (events as (anymail event type, minute), what the row shows at the end, at which minute)
CASES = [
    ([("deferred", 1), ("delivered", 2)], "delivered", 2),
    ([("delivered", 2), ("deferred", 1)], "delivered", 2),
    ([("delivered", 2), ("deferred", 3)], "delivered", 2),
    ([("delivered", 1), ("opened", 2), ("clicked", 3)], "opened", 3),
    ([("opened", 2), ("delivered", 1)], "opened", 2),
    ([("deferred", 1), ("bounced", 5)], "bounced", 5),
    ([("bounced", 5), ("delivered", 6)], "bounced", 5),
    ([("bounced", 5), ("deferred", 1)], "bounced", 5),
    ([("bounced", 5), ("bounced", 4)], "bounced", 5),
    ([("bounced", 4), ("rejected", 5)], "rejected", 5),
    ([("delivered", 1), ("complained", 9), ("bounced", 10)], "complained", 9),
    ([("failed", 1)], "rejected", 1),
    ([("queued", 1), ("sent", 1), ("unsubscribed", 2), ("unknown", 3)], "", None),
]


@pytest.mark.parametrize(("events", "shown", "minute"), CASES)
def test_the_strongest_news_then_the_newest_is_shown(events, shown, minute):
    delivery = _delivery()
    for event_type, at in events:
        _record(delivery, event_type, at)
    delivery.refresh_from_db()
    assert delivery.tracking_status == shown
    expected = None if minute is None else T0 + datetime.timedelta(minutes=minute)
    assert delivery.tracking_at == expected


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_arrival_order_ends_the_same(order):
    events = [("deferred", 1), ("delivered", 2), ("opened", 3), ("complained", 4)]
    delivery = _delivery()
    for index in order:
        _record(delivery, *events[index])
    delivery.refresh_from_db()
    assert (delivery.tracking_status, delivery.tracking_at) == (
        "complained",
        T0 + datetime.timedelta(minutes=4),
    )
    assert AuditEvent.objects.filter(action="delivery.complained").count() == 1


def test_a_long_answer_is_kept_shortened_and_only_problems_are_audited():
    delivery = _delivery()
    _record(delivery, "delivered", 1, "250 OK")
    _record(delivery, "bounced", 2, "550 " + "x" * 900)
    delivery.refresh_from_db()
    assert len(delivery.tracking_detail) == 500
    assert [e.action for e in AuditEvent.objects.all()] == ["delivery.bounced"]
