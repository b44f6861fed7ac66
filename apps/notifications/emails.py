"""The Fulfillment Email of a shipment, as a MIME message."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.core import sealing
from apps.core.text import single_line
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import Certificate, CertificateStatus, Entitlement
from apps.entitlements.selectors import shipment_entitlements
from apps.notifications.models import ShipmentEmail
from apps.orders.models import Shipment
from apps.outbox.models import Delivery, topic_key


def latest_certificates(
    entitlements: list[Entitlement], *, without_code: bool = False
) -> dict[int, Certificate | None]:
    """The newest ready certificate of each entitlement (None where none is ready yet);
    with `without_code`, the newest of those that do not print the activation code."""
    by_id = {entitlement.pk: entitlement for entitlement in entitlements}
    latest: dict[int, Certificate | None] = dict.fromkeys(by_id)
    ready = Certificate.objects.filter(
        entitlement__in=by_id, status=CertificateStatus.READY
    ).order_by("entitlement_id", "version")
    if without_code:
        ready = ready.filter(shows_activation_code=False)
    for certificate in ready:
        certificate.entitlement = by_id[certificate.entitlement_id]  # no query per certificate
        latest[certificate.entitlement_id] = certificate
    return latest


class ShipmentContents:
    """What shipments' emails carry (licenses, their rendered emails and certificate PDFs),
    read once per batch of emails, in a few queries for all its shipments."""

    def __init__(self, shipment_ids=()):
        self._shipments: dict[int, tuple[list[dict], list[tuple[str, bytes | str, str]]]] = {}
        self._emails: dict[tuple[int, str], ShipmentEmail] = {}
        self._rows: dict[int, Shipment] = {}
        if shipment_ids:
            self._load(set(shipment_ids))

    def email(self, shipment: Shipment, language: str) -> ShipmentEmail:
        """The shipment's Fulfillment Email in this language: as stored, else rendered now
        and stored (by whichever worker gets there first)."""
        key = (shipment.pk, language)
        if key not in self._emails:
            licenses = self[shipment.pk][0]
            self._emails[key], _ = ShipmentEmail.objects.get_or_create(
                shipment=shipment,
                language=language,
                defaults=_rendered(shipment, language, licenses),
            )
        return self._emails[key]

    def shipment(self, shipment_id: int) -> Shipment:
        if shipment_id not in self._rows:
            self._load({shipment_id})
        return self._rows[shipment_id]

    def _load(self, shipment_ids: set[int]) -> None:
        self._rows.update(Shipment.objects.select_related("order").in_bulk(shipment_ids))
        for email in ShipmentEmail.objects.filter(shipment_id__in=shipment_ids):
            self._emails[email.shipment_id, email.language] = email
        # New entitlements come from the shipment's lines; renewed ones from its renewal terms.
        # One entitlement may be new in one shipment and renewed in others: each pair is an item.
        delivered = shipment_entitlements(shipment_ids=shipment_ids)
        entitlements: dict[int, Entitlement] = {}
        for item in delivered:
            entitlements.setdefault(item.entitlement.pk, item.entitlement)
        prefetch_related_objects(
            list(entitlements.values()), "entitlement_accounts__account", "legacy_keys"
        )
        certificates = latest_certificates(
            [entitlements[item.entitlement.pk] for item in delivered if not item.renewal]
        )
        renewal_certificates = latest_certificates(
            [entitlements[item.entitlement.pk] for item in delivered if item.renewal],
            without_code=True,
        )
        for shipment_id in shipment_ids:
            self._shipments[shipment_id] = ([], [])
        for item in delivered:
            licenses, attachments = self._shipments[item.shipment_id]
            entitlement = entitlements[item.entitlement.pk]
            if item.renewal:
                # A renewal goes to the renewal order's addresses, which may never have had
                # the code or the keys: it names the SSRN and the new dates, and no secret.
                licenses.append(
                    {
                        "entitlement": entitlement,
                        "product": item.renewal.order_line.product,
                        "renewal": item.renewal,
                        "activation_code": None,
                        "accounts": _account_ids(entitlement),
                        # How many devices got a fresh key with the new dates: the email
                        # says so and where to get them, and carries no key.
                        "keys_reissued": item.renewal.keys_reissued,
                    }
                )
                certificate = renewal_certificates[entitlement.pk]
                if certificate:  # one made before renewals stopped printing the code is not sent
                    attachments.append(_pdf(certificate))
                continue
            if entitlement.split_from_id:
                # Seats split off later: their code went to their own accounts only.
                continue
            if entitlement.transferred_at:
                # Transferred since: its code and certificates (which print the code) are
                # the new accounts' (transfers.py); the order's addresses get neither.
                licenses.append(
                    {
                        "entitlement": entitlement,
                        "product": entitlement.product,
                        "renewal": None,
                        "transferred": True,
                        "activation_code": None,
                        "accounts": _account_ids(entitlement),
                    }
                )
                continue
            licenses.append(
                {
                    "entitlement": entitlement,
                    "product": entitlement.product,
                    "renewal": None,
                    "activation_code": entitlement.activation_code,
                    "accounts": _account_ids(entitlement),
                }
            )
            attachments.append(_pdf(certificates[entitlement.pk]))
            keys = [key.license_key for key in entitlement.legacy_keys.all()]
            if keys:  # heritage_key: the keys to install, one a line, as the devices read them
                filename, text = key_file(ssrn=entitlement.ssrn, keys=keys)
                attachments.append((filename, text, "text/plain"))
                licenses[-1]["key_count"] = len(keys)

    def __getitem__(
        self, shipment_id: int
    ) -> tuple[list[dict], list[tuple[str, bytes | str, str]]]:
        if shipment_id not in self._shipments:
            self._load({shipment_id})
        return self._shipments[shipment_id]


def _account_ids(entitlement: Entitlement) -> list[str]:
    return [role.account.account_id for role in entitlement.entitlement_accounts.all()]


def _pdf(certificate: Certificate) -> tuple[str, bytes, str]:
    with certificate.file.open("rb") as pdf:
        return certificate.filename, pdf.read(), "application/pdf"


def _rendered(shipment: Shipment, language: str, licenses: list[dict]) -> dict[str, str]:
    context = {
        "order": shipment.order,
        "shipment": shipment,
        "licenses": licenses,
        "portal_url": settings.SITE_URL,
        "legacy_keys_url": settings.SITE_URL + reverse("portal:legacy-keys"),
    }
    with translation.override(language):
        names = ", ".join(dict.fromkeys(item["product"].name for item in licenses))
        subject = _("Your licenses for order %(order)s: %(products)s") % {
            "order": shipment.order.order_number,
            "products": names,
        }
        return {
            "subject": single_line(subject)[:250],
            "text_sealed": sealing.seal(render_to_string("emails/fulfillment.txt", context)),
            "html_sealed": sealing.seal(render_to_string("emails/fulfillment.html", context)),
        }


def delivery_shipment_id(delivery: Delivery) -> int | None:
    """The shipment a Fulfillment Email delivers."""
    key = topic_key(delivery.topic, "shipment")
    return int(key) if key else None


def fulfillment_message(delivery: Delivery, contents: ShipmentContents) -> EmailMultiAlternatives:
    """The email for one delivery: its shipment's email in its language, with every
    certificate attached."""
    shipment_id = delivery_shipment_id(delivery)
    email = contents.email(contents.shipment(shipment_id), delivery.language)
    message = EmailMultiAlternatives(
        # One line even if stored before intake refused line breaks in names: a header
        # with a line break is refused by the mail library, and the email would never leave.
        subject=single_line(email.subject),
        body=email.text,
        to=[delivery.recipient],
        headers={"Message-ID": delivery.message_id},
    )
    message.attach_alternative(email.html, "text/html")
    for filename, content, mimetype in contents[shipment_id][1]:
        message.attach(filename, content, mimetype)
    return message


def reminder_items(delivery: Delivery) -> list[dict]:
    items = []
    reminders = delivery.reminders.select_related("term__entitlement__product").prefetch_related(
        "term__entitlement__product__renewal_skus",
        "term__entitlement__entitlement_accounts__account",
    )
    for reminder in reminders.order_by("term__ends_on", "id"):
        term = reminder.term
        entitlement = term.entitlement
        items.append(
            {
                "entitlement": entitlement,
                "product": entitlement.product,
                "term": term,
                "window": reminder.window,
                "days_left": reminder.window if reminder.window.isdigit() else None,
                "renewal_skus": [p.sku for p in entitlement.product.renewal_skus.all()],
                "accounts": [
                    role.account.account_id for role in entitlement.entitlement_accounts.all()
                ],
            }
        )
    return items


def reminder_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The day's digest for one address: every subscription of theirs that reached a window."""
    context = {"items": reminder_items(delivery), "portal_url": settings.SITE_URL}
    with translation.override(delivery.language):
        subject = _("Your Keyship subscriptions: %(count)d need attention") % {
            "count": len(context["items"])
        }
        text = render_to_string("emails/reminders.txt", context)
        html = render_to_string("emails/reminders.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[delivery.recipient],
        headers={"Message-ID": delivery.message_id},
    )
    message.attach_alternative(html, "text/html")
    return message
