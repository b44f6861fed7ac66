"""The emails of this app on the outbox: Fulfillment Emails and reminder digests.

Both are outbox deliveries (apps.outbox); this module tells the outbox how to write them.
"""

from apps.entitlements.models import Certificate, CertificateStatus
from apps.entitlements.selectors import shipment_entitlements
from apps.notifications.emails import (
    ShipmentContents,
    delivery_shipment_id,
    fulfillment_message,
    reminder_message,
)
from apps.notifications.models import ShipmentEmail
from apps.orders.models import Shipment
from apps.outbox.kinds import EmailKind
from apps.outbox.models import Delivery, DeliveryKind, topic


def shipment_topic(shipment_id: int) -> str:
    return topic("shipment", shipment_id)


def _documents_missing(*, shipment_ids: set[int]) -> set[int]:
    """The shipments of which a certificate (new or renewed entitlement) is not rendered yet.

    A few queries per batch of deliveries, each on its own index, whatever their number.
    """
    delivered = shipment_entitlements(shipment_ids=shipment_ids)
    unready = set(
        Certificate.objects.filter(
            entitlement_id__in={item.entitlement.pk for item in delivered},
            status__in=[
                CertificateStatus.QUEUED,
                CertificateStatus.RENDERING,
                CertificateStatus.FAILED,
            ],
        ).values_list("entitlement_id", flat=True)
    )
    return {item.shipment_id for item in delivered if item.entitlement.pk in unready}


class FulfillmentEmails(EmailKind):
    """A shipment's Fulfillment Email, with its certificates, once they are all rendered."""

    def waiting(self, deliveries: list[Delivery]) -> set[int]:
        missing = _documents_missing(
            shipment_ids={delivery_shipment_id(delivery) for delivery in deliveries}
        )
        return {d.pk for d in deliveries if delivery_shipment_id(d) in missing}

    def writer(self, deliveries: list[Delivery]):
        contents = ShipmentContents({delivery_shipment_id(delivery) for delivery in deliveries})
        return lambda delivery: fulfillment_message(delivery, contents)


class ReminderDigests(EmailKind):
    """One address's reminders of one day."""

    def writer(self, deliveries: list[Delivery]):
        return reminder_message


def shipment_emails_render(*, shipment_id: int) -> None:
    """Render and store the shipment's Fulfillment Email in each language its addresses
    read, once its certificates are ready; its deliveries then only send it."""
    languages = set(
        Delivery.objects.filter(
            kind=DeliveryKind.FULFILLMENT, topic=shipment_topic(shipment_id)
        ).values_list("language", flat=True)
    ) - set(
        ShipmentEmail.objects.filter(shipment_id=shipment_id).values_list("language", flat=True)
    )
    if not languages:
        return
    contents = ShipmentContents({shipment_id})
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    for language in sorted(languages):
        contents.email(shipment, language)
