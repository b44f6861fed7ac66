"""One email that cannot be written holds up no other email of its batch.

The sender writes a batch's emails kind by kind, each kind reading what its emails need in one
go. A Fulfillment Email whose certificate file is gone from the storage (a restore, an object
store that does not answer) must fail on its own row, with the reason, and come back later;
the access decisions, sign-in links and the other Fulfillment Emails sent with it go out.
"""

import pytest

from apps.core.actors import Job
from apps.entitlements.models import Certificate
from apps.fulfillment.services import order_lines_fulfil_due, shipment_documents_prepare
from apps.outbox.kinds import sealed_email
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from apps.outbox.services import deliveries_send, delivery_queue
from tests.factories.notifications import shipment_of
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db


def test_an_email_that_cannot_be_written_fails_alone(mailoutbox):
    order_with_lines(dates=[today()], emails=["one@northwind.example"])
    order_with_lines(dates=[today()], emails=["two@blueharbor.example"])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    broken, whole = Delivery.objects.filter(kind=DeliveryKind.FULFILLMENT).order_by("recipient")
    for delivery in (broken, whole):
        shipment_documents_prepare(shipment_id=shipment_of(delivery).pk)
    certificate = Certificate.objects.get(entitlement__order_line__order=shipment_of(broken).order)
    certificate.file.storage.delete(certificate.file.name)
    reset = delivery_queue(
        kind=DeliveryKind.PASSWORD_RESET,
        topic="password_reset:1",
        recipient="three@northwind.example",
        content=sealed_email(subject="Reset your password", text="A link"),
    )

    deliveries_send(delivery_ids=[broken.pk, whole.pk, reset.pk])

    assert sorted(message.to[0] for message in mailoutbox) == [
        "three@northwind.example",
        "two@blueharbor.example",
    ]
    whole.refresh_from_db()
    reset.refresh_from_db()
    assert whole.status == reset.status == DeliveryStatus.SENT
    broken.refresh_from_db()
    assert broken.status == DeliveryStatus.RETRY and broken.attempts == 1
    assert "FileNotFoundError" in broken.last_error


def test_an_email_backend_that_cannot_start_is_written_on_each_row(settings):
    # Mailgun named as the backend, but its API key forgotten: nothing can leave, and the
    # queue says why instead of holding the emails as "sending" with no error.
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {}
    reset = delivery_queue(
        kind=DeliveryKind.PASSWORD_RESET,
        topic="password_reset:1",
        recipient="three@northwind.example",
        content=sealed_email(subject="Reset your password", text="A link"),
    )

    deliveries_send(delivery_ids=[reset.pk])

    reset.refresh_from_db()
    assert reset.status == DeliveryStatus.RETRY and reset.attempts == 1
    assert "MAILGUN_API_KEY" in reset.last_error
