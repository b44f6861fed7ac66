"""Suspend, reinstate and revoke an entitlement.

A suspended entitlement keeps its devices but takes no new activation and hands out no key
until it is reinstated; a revoked one ends its activations, for good. Each action is one
transaction holding the entitlement's row lock (so it takes turns with activations and
renewals), refuses with a reason and writes nothing when it does not apply, and otherwise
writes its audit event, its change in the feed (which tells the webhooks) and an email to
the contacts of the entitlement's accounts, each in their language.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.core.services import audit_event_record, field_changes, field_values
from apps.entitlements.activations import activations_revoke
from apps.entitlements.changes import entitlement_calendar_changes, entitlement_changes_record
from apps.entitlements.models import ChangeKind, Entitlement, EntitlementStatus
from apps.entitlements.selectors import entitlement_contacts
from apps.outbox.models import DeliveryKind, topic
from apps.outbox.services import delivery_queue

REASON_MAX_LENGTH = 200
LIFECYCLE_FIELDS = ["suspended_at", "suspend_reason", "revoked_at", "revoke_reason", "feed_status"]


def reason_clean(reason: str, *, missing: str = "") -> str:
    """A staff member's or the ERP's reason as it is told: spaces folded, required (`missing`
    says what to write), at most REASON_MAX_LENGTH characters."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise Rejected([missing or _("reason: say why (it is told to the customer's contacts).")])
    if len(reason) > REASON_MAX_LENGTH:
        raise Rejected([_("reason: at most %(count)d characters.") % {"count": REASON_MAX_LENGTH}])
    return reason


def _locked(entitlement_id: int) -> Entitlement:
    return (
        Entitlement.objects.select_for_update(of=("self",))
        .select_related("product")
        .get(pk=entitlement_id)
    )


def _status_label(entitlement: Entitlement) -> str:
    return str(EntitlementStatus(entitlement.status_on(business_today())).label).lower()


def lifecycle_notices_queue(
    *, entitlement: Entitlement, contacts, action: str, reason: str, **details
) -> None:
    """Queue the notice of `action` to each of `contacts` (entitlement_contacts), in the
    contact's language."""
    for contact in contacts:
        delivery_queue(
            kind=DeliveryKind.LIFECYCLE_NOTICE,
            topic=topic("entitlement", entitlement.pk),
            about=entitlement.ssrn,
            recipient=contact.user.email,
            language=contact.language,
            payload={"name": contact.user.name, "action": action, "reason": reason, **details},
        )


def _record(*, entitlement, before, action: str, kind: str, reason: str, actor) -> None:
    entitlement.feed_status = entitlement.status_on(business_today())
    entitlement.save(update_fields=[*LIFECYCLE_FIELDS, "updated_at"])
    audit_event_record(
        actor=actor,
        action=f"entitlement.{action}",
        target=entitlement,
        message=reason,
        data={"reason": reason, **field_changes(before, entitlement, LIFECYCLE_FIELDS)},
    )
    entitlement_changes_record(entitlements=[entitlement], kind=kind, data={"reason": reason})
    lifecycle_notices_queue(
        entitlement=entitlement,
        contacts=entitlement_contacts(entitlement),
        action=action,
        reason=reason,
    )


@transaction.atomic
def entitlement_suspend(*, entitlement_id: int, reason: str, actor) -> Entitlement:
    """Suspend the entitlement: its devices keep their keys, but no device is activated and
    no key handed out until it is reinstated. Refused (nothing written) when it is revoked
    or already suspended."""
    reason = reason_clean(reason)
    entitlement = _locked(entitlement_id)
    if entitlement.revoked_at or entitlement.suspended_at:
        raise Rejected(
            [
                _("The entitlement %(ssrn)s is %(status)s: it cannot be suspended.")
                % {"ssrn": entitlement.ssrn, "status": _status_label(entitlement)}
            ]
        )
    # The calendar's untold moves come first in the feed, as for an activation.
    entitlement_calendar_changes(entitlements=[entitlement], today=business_today())
    before = field_values(entitlement, LIFECYCLE_FIELDS)
    entitlement.suspended_at, entitlement.suspend_reason = timezone.now(), reason
    _record(
        entitlement=entitlement,
        before=before,
        action="suspended",
        kind=ChangeKind.SUSPENDED,
        reason=reason,
        actor=actor,
    )
    return entitlement


@transaction.atomic
def entitlement_reinstate(*, entitlement_id: int, reason: str, actor) -> Entitlement:
    """Lift a suspension: the entitlement takes activations again, with the status its dates
    give it. Refused (nothing written) unless it is suspended."""
    reason = reason_clean(reason)
    entitlement = _locked(entitlement_id)
    if entitlement.revoked_at or not entitlement.suspended_at:
        raise Rejected(
            [
                _("The entitlement %(ssrn)s is %(status)s: only a suspended one is reinstated.")
                % {"ssrn": entitlement.ssrn, "status": _status_label(entitlement)}
            ]
        )
    before = field_values(entitlement, LIFECYCLE_FIELDS)
    entitlement.suspended_at, entitlement.suspend_reason = None, ""
    _record(
        entitlement=entitlement,
        before=before,
        action="reinstated",
        kind=ChangeKind.REINSTATED,
        reason=reason,
        actor=actor,
    )
    return entitlement


@transaction.atomic
def entitlement_revoke(*, entitlement_id: int, reason: str, actor) -> Entitlement:
    """Revoke the entitlement, for good: its live activations end (their seats and keys with
    them) and it is never activated, renewed or reinstated again. A suspended entitlement
    may be revoked. Refused (nothing written) when it is revoked already."""
    reason = reason_clean(reason)
    entitlement = _locked(entitlement_id)
    if entitlement.revoked_at:
        raise Rejected(
            [
                _("The entitlement %(ssrn)s is revoked already: revoking is final.")
                % {"ssrn": entitlement.ssrn}
            ]
        )
    entitlement_calendar_changes(entitlements=[entitlement], today=business_today())
    activations_revoke(
        activation_ids=list(
            entitlement.activations.filter(revoked_at__isnull=True).values_list("pk", flat=True)
        ),
        actor=actor,
        reason=reason,
    )
    entitlement.refresh_from_db(fields=["feed_status"])
    before = field_values(entitlement, LIFECYCLE_FIELDS)
    entitlement.revoked_at, entitlement.revoke_reason = timezone.now(), reason
    _record(
        entitlement=entitlement,
        before=before,
        action="revoked",
        kind=ChangeKind.REVOKED,
        reason=reason,
        actor=actor,
    )
    return entitlement
