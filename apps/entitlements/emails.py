"""The emails of this app on the outbox: license keys a portal user asked for, the notice of
a suspension, reinstatement or revocation (lifecycle.py), and of a rehost with the decision
on a rehost request (rehosts.py)."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from apps.core.contracts import Rejected
from apps.core.services import audit_event_record
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import Activation, Entitlement
from apps.entitlements.selectors import license_keys_file, license_keys_problem
from apps.outbox.kinds import EmailKind
from apps.outbox.models import Delivery, DeliveryKind, topic, topic_key
from apps.outbox.services import delivery_queue


@transaction.atomic
def license_keys_mail(*, entitlement: Entitlement, user, language: str, actor) -> Delivery:
    """Email `user` (who may see the entitlement) the license keys of its live activations,
    as a file, written when the email leaves; audited. Each call sends them again.
    Refused while the entitlement is suspended or revoked."""
    problem = license_keys_problem(entitlement=entitlement)
    if problem:
        raise Rejected([problem])
    delivery = delivery_queue(
        kind=DeliveryKind.LICENSE_KEYS,
        topic=topic("entitlement", entitlement.pk),
        about=entitlement.ssrn,
        recipient=user.email,
        language=language,
        payload={"name": user.name},
    )
    audit_event_record(
        actor=actor, action="license_keys.emailed", target=entitlement, message=user.email
    )
    return delivery


class LicenseKeyEmails(EmailKind):
    def writer(self, deliveries: list[Delivery]):
        entitlements = Entitlement.objects.select_related("product").in_bulk(
            [int(delivery.topic.split(":", 1)[1]) for delivery in deliveries]
        )

        def message(delivery: Delivery) -> EmailMessage:
            entitlement = entitlements[int(delivery.topic.split(":", 1)[1])]
            with translation.override(delivery.language):
                context = {
                    "entitlement": entitlement,
                    "user": {"name": delivery.payload.get("name"), "email": delivery.recipient},
                }
                message = EmailMessage(
                    subject=render_to_string("emails/license_keys_subject.txt", context).strip(),
                    body=render_to_string("emails/license_keys.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )
            filename, text = license_keys_file(entitlement=entitlement)
            message.attach(filename, text, "text/plain")
            return message

        return message


class LifecycleNoticeEmails(EmailKind):
    """Tells a contact that an entitlement was suspended, reinstated or revoked, and why."""

    def writer(self, deliveries: list[Delivery]):
        entitlements = Entitlement.objects.select_related("product").in_bulk(
            [int(delivery.topic.split(":", 1)[1]) for delivery in deliveries]
        )

        def message(delivery: Delivery) -> EmailMessage:
            entitlement = entitlements[int(delivery.topic.split(":", 1)[1])]
            with translation.override(delivery.language):
                context = {
                    "entitlement": entitlement,
                    "action": delivery.payload.get("action"),
                    "reason": delivery.payload.get("reason", ""),
                    "name": delivery.payload.get("name") or delivery.recipient,
                }
                return EmailMessage(
                    subject=render_to_string(
                        "emails/lifecycle_notice_subject.txt", context
                    ).strip(),
                    body=render_to_string("emails/lifecycle_notice.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )

        return message


def _rehost_key_file(activation: Activation | None) -> tuple[str, str] | None:
    """The new device's key as a file, written now, or None when it is not handed out:
    the activation ended since, or the entitlement is suspended or revoked."""
    if activation is None or activation.revoked_at is not None:
        return None
    if license_keys_problem(entitlement=activation.entitlement):
        return None
    return key_file(ssrn=activation.entitlement.ssrn, keys=[activation.license_key])


class RehostNoticeEmails(EmailKind):
    """Tells a contact that an activation moved to a replacement device, with the new
    device's key attached (written when the email leaves, never stored with the message)."""

    def writer(self, deliveries: list[Delivery]):
        activations = Activation.objects.select_related("entitlement__product").in_bulk(
            [int(topic_key(delivery.topic, "activation")) for delivery in deliveries]
        )

        def message(delivery: Delivery) -> EmailMessage:
            activation = activations.get(int(topic_key(delivery.topic, "activation")))
            attachment = _rehost_key_file(activation)
            with translation.override(delivery.language):
                context = {
                    "entitlement": activation.entitlement if activation else None,
                    "about": delivery.about,
                    "name": delivery.payload.get("name") or delivery.recipient,
                    "serial_number": delivery.payload.get("serial_number", ""),
                    "new_serial_number": delivery.payload.get("new_serial_number", ""),
                    "reason": delivery.payload.get("reason", ""),
                    "key_attached": attachment is not None,
                    "portal_url": settings.SITE_URL
                    + reverse("portal:entitlement", args=[delivery.about]),
                }
                message = EmailMessage(
                    subject=render_to_string("emails/rehost_notice_subject.txt", context).strip(),
                    body=render_to_string("emails/rehost_notice.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )
            if attachment:
                message.attach(*attachment, "text/plain")
            return message

        return message


class RehostDecisionEmails(EmailKind):
    """Tells the portal user who asked for a rehost whether Customer Care approved it."""

    def writer(self, deliveries: list[Delivery]):
        def message(delivery: Delivery) -> EmailMessage:
            with translation.override(delivery.language):
                context = {
                    "ssrn": delivery.about,
                    "name": delivery.payload.get("name") or delivery.recipient,
                    "approved": delivery.payload.get("status") == "approved",
                    "serial_number": delivery.payload.get("serial_number", ""),
                    "new_serial_number": delivery.payload.get("new_serial_number", ""),
                    "note": delivery.payload.get("note", ""),
                    "portal_url": settings.SITE_URL
                    + reverse("portal:entitlement", args=[delivery.about]),
                }
                return EmailMessage(
                    subject=render_to_string("emails/rehost_decision_subject.txt", context).strip(),
                    body=render_to_string("emails/rehost_decision.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )

        return message
