from django.db.models import QuerySet

from apps.notifications.services import shipment_topic
from apps.orders.models import SalesOrder, Shipment
from apps.outbox.models import Delivery, DeliveryKind


def shipment_deliveries(*, shipments: list[Shipment]) -> QuerySet[Delivery]:
    """The Fulfillment Emails of these shipments, to every address and resent ones."""
    return Delivery.objects.filter(
        kind=DeliveryKind.FULFILLMENT, topic__in=[shipment_topic(s.pk) for s in shipments]
    )


def order_deliveries(*, order: SalesOrder) -> QuerySet[Delivery]:
    """The Fulfillment Emails of every shipment of the order, oldest first."""
    return shipment_deliveries(shipments=list(order.shipments.all())).order_by("pk")
