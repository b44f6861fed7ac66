import factory

from apps.notifications.emails import new_message_id
from apps.notifications.models import EmailDelivery
from tests.factories.orders import ShipmentFactory


class EmailDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailDelivery

    shipment = factory.SubFactory(ShipmentFactory)
    email = factory.Sequence(lambda n: f"recipient{n}@example.com")
    message_id = factory.LazyFunction(new_message_id)
