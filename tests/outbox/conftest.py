import pytest

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from tests.fulfillment.helpers import order_with_lines, today
from tests.outbox.mailgun import SIGNING_KEY


@pytest.fixture
def mailgun(settings):
    """Mailgun's tracking webhook configured, as production's environment sets it."""
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    return settings.ANYMAIL


def ship_order(emails=("buyer@northwind.example",)):
    """An order shipped today: its Fulfillment Emails sent by the configured backend."""
    order = order_with_lines(dates=[today()], emails=emails)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    return order


@pytest.fixture
def sent_email(transactional_db, mailoutbox):
    """A Fulfillment Email that went out (the test backend), with its order."""
    order = ship_order()
    delivery = Delivery.objects.get(kind=DeliveryKind.FULFILLMENT)
    assert delivery.status == DeliveryStatus.SENT
    return delivery, order
