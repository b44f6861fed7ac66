import factory

from apps.notifications.emails import delivery_shipment_id
from apps.notifications.services import shipment_topic
from apps.orders.models import Shipment
from apps.outbox.models import Delivery, DeliveryKind
from apps.outbox.services import new_message_id
from tests.factories.orders import ShipmentFactory


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A Fulfillment Email of a shipment to one address."""

    class Meta:
        model = Delivery

    class Params:
        shipment = factory.SubFactory(ShipmentFactory)

    kind = DeliveryKind.FULFILLMENT
    topic = factory.LazyAttribute(lambda o: shipment_topic(o.shipment.pk))
    about = factory.LazyAttribute(lambda o: o.shipment.order.order_number)
    recipient = factory.Sequence(lambda n: f"recipient{n}@example.com")
    message_id = factory.LazyFunction(new_message_id)


def shipment_of(delivery: Delivery) -> Shipment:
    """The shipment a Fulfillment Email delivers."""
    return Shipment.objects.get(pk=delivery_shipment_id(delivery))
