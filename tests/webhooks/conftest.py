import pytest

from apps.core.actors import Job
from apps.outbox.endpoints import webhook_endpoint_create
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A receiving server on 127.0.0.1, which Keyship may post to in this test."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with Receiver() as server:
        yield server


def endpoint_for(url, *, events=None, account_ids=(), owner_email="ops@erp.example"):
    """A registered endpoint and its secret (every event type unless told)."""
    from apps.outbox.events import EVENT_TYPES

    return webhook_endpoint_create(
        url=url,
        events=list(events or EVENT_TYPES),
        account_ids=account_ids,
        owner_email=owner_email,
        actor=Job("test"),
    )


def webhooks_send():
    """What the workers do with webhook events: those handed over when their transaction
    committed (queued, never tried), then those due for another attempt."""
    from apps.outbox.models import Channel, Delivery, DeliveryStatus
    from apps.outbox.services import deliveries_send

    handed_over = list(
        Delivery.objects.filter(
            channel=Channel.WEBHOOK, status=DeliveryStatus.QUEUED, attempts=0
        ).values_list("pk", flat=True)
    )
    sent = deliveries_send(delivery_ids=handed_over, channel=Channel.WEBHOOK, limit=100)
    return sent + deliveries_send(channel=Channel.WEBHOOK, limit=100)
