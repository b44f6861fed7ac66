"""An endpoint whose deliveries keep failing is disabled and its owner told; one success
starts the count again; enabling it again is audited."""

import pytest
from django.core import mail

from apps.core.actors import Job
from apps.core.backoff import MAX_ATTEMPTS
from apps.core.models import AuditEvent
from apps.outbox.endpoints import webhook_endpoints_enable
from apps.outbox.models import Channel, Delivery, DeliveryKind, DeliveryStatus
from apps.outbox.services import deliveries_send
from tests.fulfillment.helpers import order_with_lines, today
from tests.webhooks.conftest import endpoint_for, webhooks_send
from tests.webhooks.test_delivery import make_due

pytestmark = pytest.mark.django_db


def ship(lines=1):
    from apps.fulfillment.services import order_lines_fulfil_due

    order_with_lines(dates=[today()] * lines)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))


def fail_for_good():
    """Every webhook delivery on its last attempt, sent (and refused) now."""
    Delivery.objects.filter(channel=Channel.WEBHOOK, status__in=["queued", "retry"]).update(
        attempts=MAX_ATTEMPTS - 1
    )
    make_due()
    webhooks_send()


def test_an_endpoint_that_keeps_failing_is_disabled_and_its_owner_told(receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER = 3
    receiver.default = 503
    endpoint, _ = endpoint_for(receiver.url, events=["entitlement.created"])
    ship(lines=2)
    fail_for_good()
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 2)

    ship(lines=1)
    fail_for_good()

    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert "3 deliveries in a row failed" in endpoint.disabled_reason
    event = AuditEvent.objects.get(action="webhook_endpoint.disabled")
    assert event.actor_name == "webhook_deliveries_send_task"
    notice = Delivery.objects.get(kind=DeliveryKind.ENDPOINT_DISABLED)
    assert notice.recipient == "ops@erp.example"
    deliveries_send(delivery_ids=[notice.pk], channel=Channel.EMAIL)
    (email,) = mail.outbox
    assert email.to == ["ops@erp.example"]
    assert email.subject == "Keyship: your webhook endpoint was disabled"
    assert receiver.url in email.body and "HTTP 503" in email.body
    assert f"/admin/outbox/webhookendpoint/{endpoint.pk}/change/" in email.body

    # Disabled: the next events are not even recorded for it.
    received = len(receiver.received)
    ship(lines=1)
    webhooks_send()
    assert len(receiver.received) == received

    webhook_endpoints_enable(endpoint_ids=[endpoint.pk], actor=Job("t"))
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 0
    assert AuditEvent.objects.filter(action="webhook_endpoint.enabled").exists()


def test_a_delivery_that_goes_through_starts_the_count_again(receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER = 2
    receiver.default = 500
    endpoint, _ = endpoint_for(receiver.url, events=["entitlement.created"])
    ship()
    fail_for_good()
    receiver.default = 200
    ship()
    webhooks_send()
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0

    receiver.default = 500
    ship()
    fail_for_good()

    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 1


def test_the_queued_events_of_a_disabled_endpoint_fail_without_being_sent(receiver):
    from apps.outbox.endpoints import webhook_endpoints_disable

    endpoint, _ = endpoint_for(receiver.url, events=["entitlement.created"])
    ship()
    webhook_endpoints_disable(endpoint_ids=[endpoint.pk], actor=Job("t"))

    webhooks_send()

    assert receiver.received == []
    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert delivery.status == DeliveryStatus.FAILED and "disabled" in delivery.last_error
    assert not Delivery.objects.filter(kind=DeliveryKind.ENDPOINT_DISABLED).exists()
