"""The emails of this app on the outbox: license keys a portal user asked for, and the
notice of a suspension, reinstatement or revocation (lifecycle.py)."""

from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from apps.core.contracts import Rejected
from apps.core.services import audit_event_record
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import license_keys_file, license_keys_problem
from apps.outbox.kinds import EmailKind
from apps.outbox.models import Delivery, DeliveryKind, topic
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
