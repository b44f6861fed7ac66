"""Webhook events: what happened, told to every endpoint subscribed to it.

A writer records its events with `event_record` (or `events_record` for a batch) inside its
own transaction: each event gets one id (`evt_...`) and one delivery per endpoint that
receives it, so the events leave with the change that made them, or not at all, and a copy
sent twice (a retry, a worker killed after the endpoint answered) carries the same id.

Each delivery's topic names what the event is about ("entitlement:<SSRN>", "order:<number>"):
an endpoint gets the events of one topic in the order they were recorded (see the claim in
services.py).

`data` says what happened in plain values; it never holds an activation code or a license
key, so an endpoint never learns a secret from Keyship.
"""

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.outbox.models import Channel, Delivery, DeliveryKind, WebhookEndpoint
from apps.outbox.services import deliveries_send_later, delivery_build

# The catalogue an endpoint subscribes from. The entitlement lifecycle events (transferred,
# split, suspended, reinstated, revoked) are emitted once those actions exist: they are
# recorded through the entitlement change feed (apps.entitlements.changes), which tells each
# change it records to the endpoints under the type of ENTITLEMENT_CHANGE_EVENTS.
EVENT_TYPES = {
    "order.received": _("A sales order was received"),
    "line.shipped": _("An order line shipped"),
    "line.blocked": _("An order line could not ship"),
    "entitlement.created": _("An entitlement was created"),
    "entitlement.renewed": _("An entitlement was renewed"),
    "entitlement.transferred": _("An entitlement was transferred"),
    "entitlement.split": _("An entitlement was split"),
    "entitlement.suspended": _("An entitlement was suspended"),
    "entitlement.reinstated": _("A suspended entitlement was reinstated"),
    "entitlement.revoked": _("An entitlement was revoked"),
    "activation.created": _("A device was activated"),
    "activation.revoked": _("An activation was revoked"),
    "activation.rehosted": _("An activation moved to a replacement device"),
    "reminder.sent": _("A subscription reminder was sent"),
}

# Sent on request to one endpoint (the admin's "send a test event"), whatever it subscribed.
TEST_EVENT = "webhook.test"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Event:
    """One event to record. `account_ids` are the Account IDs it is about (a customer's
    endpoint receives it only when one of its accounts is among them); `about` is for the
    admin's search (an SSRN, an order number)."""

    type: str
    data: dict
    topic: str
    account_ids: Collection[str] = field(default_factory=tuple)
    about: str = ""


def webhook_subscribers(types: Iterable[str]) -> list[WebhookEndpoint]:
    """The active endpoints subscribed to any of `types`: one query. A writer of many events
    asks first and builds its events only when someone listens."""
    types = set(types)
    # Endpoints are few (tens): their subscriptions are matched here rather than in SQL,
    # so the same code runs on SQLite (development) and PostgreSQL.
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(active=True).order_by("pk")
        if types & set(endpoint.events)
    ]


def events_record(
    events: Iterable[Event], *, endpoints: list[WebhookEndpoint] | None = None
) -> list[Delivery]:
    """Record these events in the current transaction: one delivery per event and endpoint
    that receives it, written in one insert and handed to the workers once the transaction
    commits. `endpoints`: the subscribers the caller has already read (webhook_subscribers),
    else they are read here. Returns the deliveries (none when nobody listens)."""
    events = list(events)
    if not events:
        return []
    if endpoints is None:
        endpoints = webhook_subscribers({event.type for event in events})
    if not endpoints:
        return []
    created = timezone.now().isoformat().replace("+00:00", "Z")
    deliveries = []
    for event in events:
        body = {"id": new_event_id(), "type": event.type, "created": created, "data": event.data}
        for endpoint in endpoints:
            if endpoint.receives(event.type, event.account_ids):
                deliveries.append(_delivery(endpoint, body, topic=event.topic, about=event.about))
    Delivery.objects.bulk_create(deliveries)
    deliveries_send_later(deliveries)
    return deliveries


def event_record(
    *, type: str, data: dict, account_ids: Collection[str], topic: str, about: str = ""
) -> list[Delivery]:
    """Record one event in the current transaction (see events_record)."""
    return events_record(
        [Event(type=type, data=data, topic=topic, account_ids=account_ids, about=about)]
    )


def sample_event_queue(*, endpoint: WebhookEndpoint) -> Delivery:
    """A test event for one endpoint, whatever it subscribed to (and also when disabled: its
    owner may want to see it work before enabling it)."""
    event_id = new_event_id()
    body = {
        "id": event_id,
        "type": TEST_EVENT,
        "created": timezone.now().isoformat().replace("+00:00", "Z"),
        "data": {"message": "A test event from Keyship.", "endpoint": endpoint.pk},
    }
    delivery = _delivery(endpoint, body, topic=f"test:{event_id}", about=TEST_EVENT)
    delivery.save()
    deliveries_send_later([delivery])
    return delivery


def _delivery(endpoint: WebhookEndpoint, body: dict, *, topic: str, about: str) -> Delivery:
    return delivery_build(
        channel=Channel.WEBHOOK,
        kind=DeliveryKind.WEBHOOK_EVENT,
        topic=topic[:120],
        about=about,
        recipient=endpoint.url,
        payload=body,
        endpoint=endpoint,
    )
