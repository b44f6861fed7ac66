"""Posting webhook events to their endpoints, signed, and what happens when one keeps failing.

Each delivery is a POST of the event's JSON with

    Keyship-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the secret>
    Keyship-Event-Id: <the event's id, the same on every attempt and for every endpoint>

A 2xx answer is delivered; any other answer (redirects are not followed), a timeout
(WEBHOOK_TIMEOUT) or a connection error is tried again with backoff (apps.core.backoff). A
delivery to an endpoint that is disabled or deleted, or whose URL is no longer allowed, fails
for good at once. When WEBHOOK_DISABLE_AFTER deliveries in a row fail for good, the endpoint
is disabled and its owner told by email; a delivery that goes through starts the count again.
"""

import hashlib
import hmac
import http.client
import json
import logging
import socket
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.actors import Job
from apps.core.services import audit_event_record
from apps.outbox.endpoints import Target, UnsafeTarget, _set_active, webhook_target
from apps.outbox.events import TEST_EVENT
from apps.outbox.models import (
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    WebhookEndpoint,
    topic,
)
from apps.outbox.services import PermanentFailure, delivery_queue, waits_for_earlier_event

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Keyship-Signature"
EVENT_ID_HEADER = "Keyship-Event-Id"
USER_AGENT = "Keyship-Webhooks/1"


class EndpointAnswered(Exception):
    """The endpoint answered, but not with a 2xx: worth another try."""


def webhook_body(payload: dict) -> bytes:
    """The bytes posted for an event: its JSON with the contract's keys first, compact."""
    ordered = {key: payload.get(key) for key in ("id", "type", "created", "data")}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The Keyship-Signature header's value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the host name resolves to now."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As _PinnedHTTPConnection, with the certificate checked against the host name."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(target: Target, body: bytes, headers: dict) -> int:
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout=settings.WEBHOOK_TIMEOUT)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        # The answer's body says nothing Keyship acts on: a little is read, so the
        # connection closes cleanly, and the rest is left.
        response.read(1024)
        return response.status
    finally:
        connection.close()


def webhook_deliver(delivery: Delivery) -> None:
    """Post one event to its endpoint; returns when the endpoint answered 2xx, else raises
    (PermanentFailure when no later attempt can do better)."""
    endpoint = (
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).first()
        if delivery.endpoint_id
        else None
    )
    if endpoint is None:
        raise PermanentFailure("the endpoint was deleted")
    if not endpoint.active and delivery.payload.get("type") != TEST_EVENT:
        raise PermanentFailure("the endpoint is disabled")
    try:
        # The endpoint's URL now, which may have changed since the event was recorded.
        target = webhook_target(endpoint.url)
    except UnsafeTarget as unsafe:
        raise PermanentFailure(f"refused: {unsafe}") from None
    body = webhook_body(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: str(delivery.payload.get("id", "")),
        SIGNATURE_HEADER: webhook_signature(
            secret=endpoint.secret, timestamp=int(time.time()), body=body
        ),
    }
    status = _post(target, body, headers)
    if not 200 <= status < 300:
        raise EndpointAnswered(f"the endpoint answered HTTP {status}")
    WebhookEndpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(
        consecutive_failures=0
    )


def webhook_followers(finished: list[Delivery]) -> list[int]:
    """The deliveries that waited for these (the next of each endpoint and topic, see the
    claim in services.py) and are due now (never tried, or due for another attempt): to
    hand to the workers at once rather than at the rescuer's next round."""
    keys = {(d.endpoint_id, d.topic) for d in finished if d.endpoint_id}
    if not keys:
        return []
    rows = (
        Delivery.objects.filter(
            # Never tried: it waited for these, whatever the rescuer's grace says.
            Q(status=DeliveryStatus.QUEUED)
            | Q(status=DeliveryStatus.RETRY, next_attempt_at__lte=timezone.now()),
            channel=Channel.WEBHOOK,
            endpoint_id__in={endpoint for endpoint, _ in keys},
            topic__in={topic for _, topic in keys},
        )
        .exclude(waits_for_earlier_event())
        .order_by("pk")
    )
    first: dict[tuple, int] = {}
    for pk, endpoint_id, topic_ in rows.values_list("pk", "endpoint_id", "topic"):
        if (endpoint_id, topic_) in keys:
            first.setdefault((endpoint_id, topic_), pk)
    return sorted(first.values())


def webhook_endpoint_failed(*, delivery: Delivery) -> None:
    """A delivery to an endpoint failed for good: count it, and disable the endpoint (and
    tell its owner) when WEBHOOK_DISABLE_AFTER have failed in a row."""
    if not delivery.endpoint_id or delivery.payload.get("type") == TEST_EVENT:
        return  # a test event says how the endpoint does; it does not count against it
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update()
            .filter(pk=delivery.endpoint_id, active=True)
            .first()
        )
        if endpoint is None:
            return  # deleted or disabled already: nothing more to tell
        endpoint.consecutive_failures += 1
        if endpoint.consecutive_failures < settings.WEBHOOK_DISABLE_AFTER:
            endpoint.save(update_fields=["consecutive_failures", "updated_at"])
            return
        endpoint_disable_for_failures(endpoint=endpoint, last_error=delivery.last_error)


def endpoint_disable_for_failures(*, endpoint: WebhookEndpoint, last_error: str) -> None:
    """Disable an endpoint (locked by the caller, in its transaction) whose deliveries keep
    failing, and tell its owner by email; audited as the webhooks job's doing."""
    reason = (
        f"{endpoint.consecutive_failures} deliveries in a row failed for good; "
        f"the last: {last_error}"
    )
    _set_active(endpoint, False, reason=reason)
    endpoint.save()
    audit_event_record(
        actor=Job("webhook_deliveries_send_task"),
        action="webhook_endpoint.disabled",
        target=endpoint,
        message=f"{endpoint.url}: {reason}",
        data={"active": {"old": True, "new": False}, "failures": endpoint.consecutive_failures},
    )
    logger.warning("webhook endpoint %s disabled after repeated failures", endpoint.pk)
    if endpoint.owner_email:
        delivery_queue(
            kind=DeliveryKind.ENDPOINT_DISABLED,
            topic=topic("webhook_endpoint", f"{endpoint.pk}:{endpoint.disabled_at:%Y%m%d%H%M%S}"),
            about=endpoint.url[:200],
            recipient=endpoint.owner_email,
            payload={
                "endpoint": endpoint.pk,
                "url": endpoint.url,
                "failures": endpoint.consecutive_failures,
                "last_error": last_error[:300],
            },
        )
