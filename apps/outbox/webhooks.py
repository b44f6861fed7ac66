"""Webhook events to subscribed endpoints."""

from apps.outbox.models import Delivery


def webhook_deliver(delivery: Delivery) -> None:
    """Post one event to its endpoint; raise what went wrong (PermanentFailure for good)."""
    raise NotImplementedError


def webhook_endpoint_failed(*, delivery: Delivery) -> None:
    """A delivery to an endpoint failed for good."""
