"""The emails of this app on the outbox: license keys a portal user asked for, the notice
of a suspension, reinstatement, revocation, transfer or split (lifecycle.py, transfers.py),
the activation code with the certificate for the new owners of a transferred or split
entitlement, and the notice of a rehost with the decision on a rehost request (rehosts.py)."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import Contact
from apps.core.contracts import Rejected
from apps.core.services import audit_event_record
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import (
    Activation,
    Certificate,
    CertificateStatus,
    Entitlement,
    EntitlementAccount,
)
from apps.entitlements.selectors import license_keys_file, license_keys_problem
from apps.outbox.kinds import EmailKind
from apps.outbox.models import Delivery, DeliveryKind, topic, topic_key
from apps.outbox.services import delivery_queue


@transaction.atomic
def license_keys_mail(*, entitlement: Entitlement, user, language: str, actor) -> Delivery:
    """Email `user` (who may see the entitlement) the license keys of its live activations,
    as a file, written when the email leaves; audited. Each call sends them again.
    Refused while the entitlement is suspended or revoked; the keys are left out if, by the
    time the email is written, it is, or the user no longer sees it (a transfer)."""
    problem = license_keys_problem(entitlement=entitlement)
    if problem:
        raise Rejected([problem])
    delivery = delivery_queue(
        kind=DeliveryKind.LICENSE_KEYS,
        topic=topic("entitlement", entitlement.pk),
        about=entitlement.ssrn,
        recipient=user.email,
        language=language,
        # Who asked: the email is written later, and carries the keys only if they still
        # see the entitlement then (LicenseKeyEmails).
        payload={"name": user.name, "user_id": user.pk},
    )
    audit_event_record(
        actor=actor, action="license_keys.emailed", target=entitlement, message=user.email
    )
    return delivery


def _seeing(deliveries: list[Delivery], entitlement_ids) -> set[tuple[int, str]]:
    """(entitlement id, ("user", id) or ("email", address)) of the deliveries whose asker
    (the user who asked; for one queued before user_id was kept, the login whose address it
    was sent to, as the address was written from it) is active and sees the entitlement
    now: one query."""
    asked = {d.payload.get("user_id") for d in deliveries if d.payload.get("user_id")}
    unnamed = {d.recipient for d in deliveries if not d.payload.get("user_id")}
    rows = EntitlementAccount.objects.filter(
        Q(account__associations__contact__user_id__in=asked)
        | Q(account__associations__contact__user__email__in=unnamed),
        entitlement_id__in=entitlement_ids,
        account__associations__contact__user__is_active=True,
    ).values_list(
        "entitlement_id",
        "account__associations__contact__user_id",
        "account__associations__contact__user__email",
    )
    seeing = set()
    for entitlement_id, user_id, email in rows:
        seeing.add((entitlement_id, ("user", user_id)))
        seeing.add((entitlement_id, ("email", email)))
    return seeing


class LicenseKeyEmails(EmailKind):
    """The license keys a portal user asked for, as a file written when the email leaves.
    The keys are left out, and the email says why, when by then the entitlement is
    suspended or revoked, or the user no longer sees it (it was transferred, or their
    association removed): the keys of devices activated since are not theirs to have."""

    def writer(self, deliveries: list[Delivery]):
        entitlements = Entitlement.objects.select_related("product").in_bulk(
            [int(delivery.topic.split(":", 1)[1]) for delivery in deliveries]
        )
        seeing = _seeing(deliveries, list(entitlements))

        def message(delivery: Delivery) -> EmailMessage:
            entitlement = entitlements[int(delivery.topic.split(":", 1)[1])]
            user_id = delivery.payload.get("user_id")
            asker = ("user", user_id) if user_id else ("email", delivery.recipient)
            with translation.override(delivery.language):
                withheld = license_keys_problem(entitlement=entitlement)
                if not withheld and (entitlement.pk, asker) not in seeing:
                    withheld = _(
                        "You no longer see the entitlement %(ssrn)s in the portal, so its "
                        "license keys are not sent to you."
                    ) % {"ssrn": entitlement.ssrn}
                context = {
                    "entitlement": entitlement,
                    "user": {"name": delivery.payload.get("name"), "email": delivery.recipient},
                    "withheld": withheld,
                }
                message = EmailMessage(
                    subject=render_to_string("emails/license_keys_subject.txt", context).strip(),
                    body=render_to_string("emails/license_keys.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )
            if not withheld:
                filename, text = license_keys_file(entitlement=entitlement)
                message.attach(filename, text, "text/plain")
            return message

        return message


class LifecycleNoticeEmails(EmailKind):
    """Tells a contact that an entitlement was suspended, reinstated, revoked, transferred
    away or split, and why. Never a code."""

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
                    # A split: how many seats moved, how many stay, the new SSRN (no code).
                    "quantity": delivery.payload.get("quantity", 0),
                    "remaining": delivery.payload.get("remaining", 0),
                    "new_ssrn": delivery.payload.get("new_ssrn", ""),
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


def _entitlement_pk(delivery: Delivery) -> int:
    return int(delivery.topic.split(":", 1)[1])


def _certificates(deliveries: list[Delivery]) -> dict[tuple[int, int], Certificate]:
    wanted = {(_entitlement_pk(d), d.payload.get("certificate_version")) for d in deliveries}
    rows = Certificate.objects.filter(
        entitlement_id__in={pk for pk, _version in wanted},
        version__in={version for _pk, version in wanted},
    )
    return {(row.entitlement_id, row.version): row for row in rows}


class HandoverEmails(EmailKind):
    """The activation code and the new certificate of a transferred or split entitlement,
    for a contact of an account that now owns it. Written once the certificate is
    rendered, from the entitlement as it is then, and only while the contact still sees it:
    if it changed hands again in between, the email says so and carries no code."""

    def waiting(self, deliveries: list[Delivery]) -> set[int]:
        certificates = _certificates(deliveries)
        return {
            delivery.pk
            for delivery in deliveries
            if (
                certificate := certificates.get(
                    (_entitlement_pk(delivery), delivery.payload.get("certificate_version"))
                )
            )
            is not None
            and certificate.status != CertificateStatus.READY
        }

    def writer(self, deliveries: list[Delivery]):
        entitlements = Entitlement.objects.select_related("product").in_bulk(
            [_entitlement_pk(delivery) for delivery in deliveries]
        )
        certificates = _certificates(deliveries)
        contacts = Contact.objects.filter(
            pk__in=[delivery.payload.get("contact_id") for delivery in deliveries],
            user__is_active=True,
        ).values_list("pk", flat=True)
        seeing = {
            (entitlement_id, contact_id)
            for entitlement_id, contact_id in Contact.objects.filter(
                pk__in=list(contacts),
                accounts__entitlement_roles__entitlement__in=list(entitlements),
            ).values_list("accounts__entitlement_roles__entitlement", "pk")
        }

        def message(delivery: Delivery) -> EmailMessage:
            entitlement = entitlements[_entitlement_pk(delivery)]
            owner = (entitlement.pk, delivery.payload.get("contact_id")) in seeing
            certificate = certificates.get(
                (entitlement.pk, delivery.payload.get("certificate_version"))
            )
            with translation.override(delivery.language):
                context = {
                    "entitlement": entitlement,
                    "owner": owner,
                    "activation_code": entitlement.activation_code if owner else None,
                    "accounts": [
                        row.account.account_id
                        for row in entitlement.entitlement_accounts.select_related(
                            "account"
                        ).order_by("id")
                    ],
                    "action": delivery.payload.get("action"),
                    "reason": delivery.payload.get("reason", ""),
                    "name": delivery.payload.get("name") or delivery.recipient,
                    "portal_url": settings.SITE_URL,
                }
                email = EmailMessage(
                    subject=render_to_string(
                        "emails/entitlement_handover_subject.txt", context
                    ).strip(),
                    body=render_to_string("emails/entitlement_handover.txt", context),
                    to=[delivery.recipient],
                    headers={"Message-ID": delivery.message_id},
                )
            if owner and certificate and certificate.status == CertificateStatus.READY:
                with certificate.file.open("rb") as pdf:
                    email.attach(certificate.filename, pdf.read(), "application/pdf")
            return email

        return message
