"""Resend the Fulfillment Email of entitlements, as a bulk action on entitlements."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.bulk import BulkAction, bulk_action_register, reason_field
from apps.entitlements.models import Entitlement
from apps.notifications.services import shipment_topic
from apps.outbox.models import Delivery, DeliveryKind
from apps.outbox.services import delivery_resend


def _shipment_id(entitlement: Entitlement) -> int | None:
    """The shipment that last told the customer about the entitlement: its latest renewal's,
    else the one that made it."""
    term = entitlement.terms.select_related("order_line").order_by("-sequence").first()
    line = term.order_line if term is not None else entitlement.order_line
    return line.shipment_id


def _originals(entitlement: Entitlement) -> list[Delivery]:
    shipment_id = _shipment_id(entitlement)
    if shipment_id is None:
        return []
    return list(
        Delivery.objects.filter(
            kind=DeliveryKind.FULFILLMENT, topic=shipment_topic(shipment_id), resend_of=None
        ).order_by("pk")
    )


def _check(entitlement: Entitlement, params: dict) -> str | None:
    if entitlement.revoked_at:
        return _("The entitlement %(ssrn)s is revoked: its Fulfillment Email is not resent.") % {
            "ssrn": entitlement.ssrn
        }
    if not _originals(entitlement):
        return _("No Fulfillment Email was sent for %(ssrn)s.") % {"ssrn": entitlement.ssrn}
    return None


def _resend(entitlement: Entitlement, params: dict, actor) -> str:
    originals = _originals(entitlement)
    for delivery in originals:
        delivery_resend(delivery=delivery, actor=actor, reason=params["reason"])
    return _("To %(recipients)s.") % {"recipients": ", ".join(d.recipient for d in originals)}


def bulk_actions_register() -> None:
    bulk_action_register(
        BulkAction(
            name="resend",
            label=gettext_lazy("Resend the Fulfillment Email"),
            permission="outbox.change_delivery",
            kind="entitlement",
            fields=reason_field,
            check=_check,
            perform=_resend,
            # One email tells of every entitlement of its shipment: it is resent once.
            once_per=_shipment_id,
        )
    )
