"""A product name stored with a line break (before intake refused them) still leaves in a
one-line subject, so its Fulfillment Email is delivered instead of failing for ever."""

import datetime

import pytest
import time_machine

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.notifications.models import ShipmentEmail
from apps.outbox.models import Delivery, DeliveryStatus
from apps.outbox.services import delivery_resend
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
def test_a_name_with_a_line_break_gives_a_one_line_subject(smtp):
    product = ProductFactory(name="Threat\r\nBcc: someone@evil.example", subscription=True)
    order_with_lines(dates=[NOW.date()], product=product)

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SENT
    (message,) = smtp.messages
    assert message["Bcc"] is None
    assert " ".join(message["Subject"].split()).endswith("Threat Bcc: someone@evil.example")
    assert "\n" not in ShipmentEmail.objects.get().subject


@time_machine.travel(NOW, tick=False)
def test_a_subject_stored_with_a_line_break_is_resent_on_one_line(smtp, admin_user):
    order_with_lines(dates=[NOW.date()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    ShipmentEmail.objects.update(subject="Your licenses\r\nBcc: someone@evil.example")

    resend = delivery_resend(delivery=Delivery.objects.get(), actor=admin_user, reason="lost")

    resend.refresh_from_db()
    assert resend.status == DeliveryStatus.SENT
    first, again = smtp.messages
    assert again["Bcc"] is None
    assert " ".join(again["Subject"].split()) == "Your licenses Bcc: someone@evil.example"
