"""The Fulfillment Email of a shipment, as a MIME message."""

import uuid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from apps.entitlements.models import Certificate, CertificateStatus, Entitlement
from apps.notifications.models import EmailDelivery


def new_message_id() -> str:
    """A Message-ID of our own domain, fixed when a delivery row is made."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ") or "keyship.local"
    return f"<{uuid.uuid4().hex}@{domain}>"


def shipment_entitlements(shipment_id: int) -> list[Entitlement]:
    return list(
        Entitlement.objects.filter(order_line__shipment_id=shipment_id)
        .select_related("product", "order_line__order")
        .prefetch_related("entitlement_accounts__account")
        .order_by("order_line__line_number")
    )


def latest_certificates(entitlements: list[Entitlement]) -> dict[int, Certificate | None]:
    """The newest ready certificate of each entitlement (None where none is ready yet)."""
    latest: dict[int, Certificate | None] = {e.pk: None for e in entitlements}
    ready = Certificate.objects.filter(
        entitlement__in=entitlements, status=CertificateStatus.READY
    ).order_by("entitlement_id", "version")
    for certificate in ready:
        latest[certificate.entitlement_id] = certificate
    return latest


def fulfillment_message(delivery: EmailDelivery, connection=None) -> EmailMultiAlternatives:
    """The email for one delivery, in the order's language, with every certificate attached."""
    entitlements = shipment_entitlements(delivery.shipment_id)
    certificates = latest_certificates(entitlements)
    order = delivery.shipment.order
    context = {
        "order": order,
        "shipment": delivery.shipment,
        "licenses": [
            {
                "entitlement": entitlement,
                "product": entitlement.product,
                "activation_code": entitlement.activation_code,
                "accounts": [
                    role.account.account_id for role in entitlement.entitlement_accounts.all()
                ],
            }
            for entitlement in entitlements
        ],
        "portal_url": settings.SITE_URL,
    }
    with translation.override(delivery.language):
        names = ", ".join(dict.fromkeys(e.product.name for e in entitlements))
        subject = _("Your licenses for order %(order)s: %(products)s") % {
            "order": order.order_number,
            "products": names,
        }
        text = render_to_string("emails/fulfillment.txt", context)
        html = render_to_string("emails/fulfillment.html", context)
    message = EmailMultiAlternatives(
        subject=subject[:250],
        body=text,
        to=[delivery.email],
        headers={"Message-ID": delivery.message_id},
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    for entitlement in entitlements:
        certificate = certificates[entitlement.pk]
        with certificate.file.open("rb") as pdf:
            message.attach(certificate.filename, pdf.read(), "application/pdf")
    return message
