"""Rehost (RMA): move an activation from a failed device to its replacement.

The failed device's activation ends (revoked, its keys with it: the revocation list is made
from revoked activations) and a new activation starts on the replacement's serial number
with a fresh key, in one transaction holding the entitlement's row lock, as activations
take it: the seats in use do not change. A portal user asks (a RehostRequest); Customer Care
approves, which rehosts, or denies; Customer Care may also rehost directly in the admin.

Every refusal says why and writes nothing. A key never goes into audit data, the feed or a
log: the contacts receive it as a file written when their email leaves, as license_keys_mail
sends keys.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.actors import actor_user
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.core.search_terms import SERIAL_NUMBER
from apps.core.services import audit_event_record
from apps.entitlements.activations import _activation_problem, activation_license_key
from apps.entitlements.changes import entitlement_calendar_changes, entitlement_changes_record
from apps.entitlements.lifecycle import reason_clean
from apps.entitlements.models import (
    Activation,
    ChangeKind,
    Entitlement,
    RehostRequest,
    RehostRequestStatus,
)
from apps.entitlements.selectors import entitlement_contacts, entitlements_visible_to
from apps.outbox.models import DeliveryKind, topic
from apps.outbox.services import delivery_queue

REASON_MAX_LENGTH = 200
NOTE_MAX_LENGTH = RehostRequest._meta.get_field("decision_note").max_length


def _reason(reason: str) -> str:
    return reason_clean(reason, missing=_("reason: say why the device is replaced."))


def serial_number_clean(text: str) -> str:
    """The replacement's serial number as activations store serials (upper case), or
    Rejected when it is not one."""
    serial = (text or "").strip().upper()
    if not serial:
        raise Rejected([_("new serial number: enter the replacement device's serial number.")])
    if not SERIAL_NUMBER.fullmatch(serial):
        raise Rejected(
            [
                _(
                    'new serial number: "%(word)s" is not a serial number (2 to 64 letters, '
                    "digits, dots, dashes, slashes or underscores)"
                )
                % {"word": serial[:70]}
            ]
        )
    return serial


def _rehost_problem(entitlement: Entitlement, activation: Activation, new_serial: str):
    """Why `activation` may not move to `new_serial` now, or None. Call with the
    entitlement's row locked and `entitlement` annotated with its status."""
    problem = _activation_problem(entitlement)
    if problem:
        return problem
    if activation.revoked_at is not None:
        return _(
            "The activation of %(serial)s on %(ssrn)s is revoked already: only a live one "
            "is moved to a replacement."
        ) % {"serial": activation.serial_number, "ssrn": entitlement.ssrn}
    if new_serial.upper() == activation.serial_number.upper():
        return _(
            "The replacement's serial number %(serial)s is the failed device's own: give the "
            "new device's serial number."
        ) % {"serial": new_serial}
    if entitlement.activations.filter(
        revoked_at__isnull=True, serial_number__iexact=new_serial
    ).exists():
        return _("%(serial)s is already activated on %(ssrn)s.") % {
            "serial": new_serial,
            "ssrn": entitlement.ssrn,
        }
    return None


def _locked_entitlement(entitlement_id: int) -> Entitlement:
    return (
        Entitlement.objects.select_for_update(of=("self",))
        .with_status(business_today())
        .select_related("product")
        .get(pk=entitlement_id)
    )


def _contacts_notify(*, entitlement: Entitlement, old: Activation, new: Activation, reason):
    """Queue the notice to each contact associated with an account of the entitlement, in
    the contact's language. The payload names the activations, never a key: the new key is
    written into the email when it leaves."""
    for contact in entitlement_contacts(entitlement):
        delivery_queue(
            kind=DeliveryKind.REHOST_NOTICE,
            topic=topic("activation", new.pk),
            about=entitlement.ssrn,
            recipient=contact.user.email,
            language=contact.language,
            payload={
                "name": contact.user.name,
                "serial_number": old.serial_number,
                "new_serial_number": new.serial_number,
                "reason": reason,
            },
        )


def _rehost(*, entitlement, activation, new_serial: str, reason: str, actor, request=None):
    """The rehost itself, with the entitlement locked and every check passed."""
    now = timezone.now()
    entitlement_calendar_changes(entitlements=[entitlement], today=business_today())
    activation.revoked_at = now
    # Kept as written, as staff's reasons are; the portal says "moved to" in its reader's
    # language from the link between the two activations.
    activation.revoke_reason = f"Rehosted to {new_serial}: {reason}"[
        : Activation._meta.get_field("revoke_reason").max_length
    ]
    activation.save(update_fields=["revoked_at", "revoke_reason"])
    new = Activation.objects.create(
        entitlement=entitlement,
        serial_number=new_serial,
        activated_by=actor_user(actor),
        license_key=activation_license_key(entitlement, new_serial, now),
        rehosted_from=activation,
    )
    data = {
        "serial_number": activation.serial_number,
        "new_serial_number": new_serial,
        "reason": reason,
    }
    audit_event_record(
        actor=actor,
        action="activation.rehosted",
        target=entitlement,
        message=reason,
        data={
            **data,
            "activation": activation.pk,
            "new_activation": new.pk,
            "rehost_request": request.pk if request else None,
            "seats_used": entitlement.activations.filter(revoked_at__isnull=True).count(),
        },
    )
    Entitlement.objects.filter(pk=entitlement.pk).update(updated_at=now)
    entitlement_changes_record(entitlements=[entitlement], kind=ChangeKind.REHOSTED, data=data)
    _contacts_notify(entitlement=entitlement, old=activation, new=new, reason=reason)
    return new


@transaction.atomic
def activation_rehost(*, activation_id: int, new_serial_number: str, reason: str, actor):
    """Move a live activation to the replacement device `new_serial_number`; returns the new
    activation. One transaction holding the entitlement's row lock (as activations take it):
    the old activation is revoked ("Rehosted to ..."), the new one gets a fresh key and
    names the old one as `rehosted_from`; the seats in use do not change. Audited, recorded
    in the feed (kind "rehosted", which tells the webhooks) and told to the contacts.

    Refused, writing nothing, when the entitlement is suspended, revoked or expired, the
    activation is revoked already, the new serial number is malformed, the failed device's
    own or live on the entitlement already, or a portal user's request for the activation
    waits (decide that instead). Not idempotent: the second call finds the activation
    revoked and is refused.
    """
    return _activation_rehost(
        activation_id=activation_id,
        new_serial_number=new_serial_number,
        reason=reason,
        actor=actor,
    )


def _activation_rehost(*, activation_id, new_serial_number, reason, actor, request=None):
    reason = _reason(reason)
    new_serial = serial_number_clean(new_serial_number)
    entitlement_id = (
        Activation.objects.filter(pk=activation_id).values_list("entitlement_id", flat=True).first()
    )
    if entitlement_id is None:
        raise Rejected([_("No such activation.")])
    entitlement = _locked_entitlement(entitlement_id)
    activation = Activation.objects.get(pk=activation_id)  # read again, under the lock
    problem = _rehost_problem(entitlement, activation, new_serial)
    if problem:
        raise Rejected([problem])
    waiting = activation.rehost_requests.filter(status=RehostRequestStatus.PENDING)
    if request is not None:
        waiting = waiting.exclude(pk=request.pk)
    if waiting.exists():
        raise Rejected(
            [
                _(
                    "A request to move %(serial)s to a replacement waits for a decision: "
                    "approve or deny it instead."
                )
                % {"serial": activation.serial_number}
            ]
        )
    return _rehost(
        entitlement=entitlement,
        activation=activation,
        new_serial=new_serial,
        reason=reason,
        actor=actor,
        request=request,
    )


@transaction.atomic
def rehost_request_create(
    *, activation_id: int, new_serial_number: str, reason: str, user, language: str
) -> RehostRequest:
    """A portal user asks to move an activation of an entitlement their contact's accounts
    see to a replacement device; returns the pending request. The user is the actor.

    Refused, writing nothing, for an activation the user does not see (told as "no such
    activation", so that it does not tell which exist), and for what activation_rehost
    would refuse now; a request already waiting for the activation is refused too. Holds
    the entitlement's row lock, so two requests at once file one.
    """
    reason = _reason(reason)
    new_serial = serial_number_clean(new_serial_number)
    entitlement_id = (
        Activation.objects.filter(
            pk=activation_id, entitlement__in=entitlements_visible_to(user=user)
        )
        .values_list("entitlement_id", flat=True)
        .first()
    )
    if entitlement_id is None:
        raise Rejected([_("No such activation.")])
    entitlement = _locked_entitlement(entitlement_id)
    activation = Activation.objects.get(pk=activation_id)
    problem = _rehost_problem(entitlement, activation, new_serial)
    if problem:
        raise Rejected([problem])
    if activation.rehost_requests.filter(status=RehostRequestStatus.PENDING).exists():
        raise Rejected(
            [
                _("A request to move %(serial)s to a replacement waits for Customer Care already.")
                % {"serial": activation.serial_number}
            ]
        )
    # The entitlement's lock makes two requests at once take turns; the database's
    # one-pending constraint stands behind the check above.
    request = RehostRequest.objects.create(
        activation=activation,
        new_serial_number=new_serial,
        reason=reason,
        requested_by=user,
        language=language,
    )
    audit_event_record(
        actor=user,
        action="rehost_request.created",
        target=entitlement,
        message=reason,
        data={
            "rehost_request": request.pk,
            "serial_number": activation.serial_number,
            "new_serial_number": new_serial,
        },
    )
    return request


def _locked_request(request_id: int) -> RehostRequest:
    request = (
        RehostRequest.objects.select_for_update(of=("self",))
        .select_related("activation__entitlement", "requested_by")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise Rejected([_("No such rehost request.")])
    if request.status != RehostRequestStatus.PENDING:
        raise Rejected(
            [
                _("The request to move %(serial)s to %(new)s is %(status)s already.")
                % {
                    "serial": request.activation.serial_number,
                    "new": request.new_serial_number,
                    "status": str(RehostRequestStatus(request.status).label).lower(),
                }
            ]
        )
    return request


def _decide(*, request: RehostRequest, status: str, note: str, actor) -> None:
    request.status = status
    request.decided_by = actor_user(actor)
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(
        update_fields=[
            "status",
            "decided_by",
            "decided_at",
            "decision_note",
            "new_activation",
            "updated_at",
        ]
    )
    audit_event_record(
        actor=actor,
        action=f"rehost_request.{status}",
        target=request.activation.entitlement,
        message=note,
        data={
            "rehost_request": request.pk,
            "serial_number": request.activation.serial_number,
            "new_serial_number": request.new_serial_number,
            "status": {"old": RehostRequestStatus.PENDING.value, "new": status},
        },
    )
    if request.requested_by.email and request.requested_by.is_active:
        delivery_queue(
            kind=DeliveryKind.REHOST_DECISION,
            topic=topic("rehost_request", request.pk),
            about=request.activation.entitlement.ssrn,
            recipient=request.requested_by.email,
            language=request.language,
            payload={
                "name": request.requested_by.name,
                "status": status,
                "serial_number": request.activation.serial_number,
                "new_serial_number": request.new_serial_number,
                "note": note,
            },
        )


def _note(note: str) -> str:
    note = " ".join((note or "").split())
    if len(note) > NOTE_MAX_LENGTH:
        raise Rejected([_("note: at most %(count)d characters.") % {"count": NOTE_MAX_LENGTH}])
    return note


@transaction.atomic
def rehost_request_approve(*, request_id: int, actor, note: str = "") -> RehostRequest:
    """Approve a pending request: rehost its activation (activation_rehost, with the
    customer's reason) and tell the requester. Locks the request first, then the
    entitlement, so two approvals at once rehost once: the second finds the request
    decided and is refused. Refused too, writing nothing and leaving it pending, when the
    rehost would be (the entitlement was suspended since, say), or when the requester no
    longer sees the entitlement (it was transferred, or their association removed: the
    device is no longer theirs to move): deny it then."""
    note = _note(note)
    request = _locked_request(request_id)
    entitlement = request.activation.entitlement
    requester = request.requested_by
    if not (
        requester.is_active
        and entitlements_visible_to(user=requester).filter(pk=entitlement.pk).exists()
    ):
        raise Rejected(
            [
                _(
                    "%(email)s, who asked for this rehost, no longer sees %(ssrn)s (it was "
                    "transferred, or the association was removed): deny the request."
                )
                % {"email": requester.email, "ssrn": entitlement.ssrn}
            ]
        )
    request.new_activation = _activation_rehost(
        activation_id=request.activation_id,
        new_serial_number=request.new_serial_number,
        reason=request.reason,
        actor=actor,
        request=request,
    )
    _decide(request=request, status=RehostRequestStatus.APPROVED, note=note, actor=actor)
    return request


@transaction.atomic
def rehost_request_deny(*, request_id: int, actor, note: str) -> RehostRequest:
    """Deny a pending request, with a note the requester reads; the activation stays as it
    is. Refused when the request is decided already (two agents at once tell nobody
    twice) or the note is missing."""
    note = _note(note)
    if not note:
        raise Rejected([_("note: say why (it is told to the requester).")])
    request = _locked_request(request_id)
    _decide(request=request, status=RehostRequestStatus.DENIED, note=note, actor=actor)
    return request


@dataclass(frozen=True)
class RehostPreview:
    """What a rehost would do, for a page that asks to confirm it: read without locks, so
    the service checks again when it runs."""

    ssrn: str
    serial_number: str
    new_serial_number: str
    seats_used: int
    quantity: int
    problem: str | None


def rehost_preview(*, activation: Activation, new_serial_number: str) -> RehostPreview:
    """What moving `activation` to `new_serial_number` would do, or why it would be refused."""
    entitlement = (
        Entitlement.objects.with_status(business_today())
        .select_related("product")
        .get(pk=activation.entitlement_id)
    )
    activation.refresh_from_db(fields=["revoked_at"])
    try:
        new_serial = serial_number_clean(new_serial_number)
    except Rejected as rejected:
        problem, new_serial = rejected.errors[0], new_serial_number
    else:
        problem = _rehost_problem(entitlement, activation, new_serial)
    return RehostPreview(
        ssrn=entitlement.ssrn,
        serial_number=activation.serial_number,
        new_serial_number=new_serial,
        seats_used=entitlement.activations.filter(revoked_at__isnull=True).count(),
        quantity=entitlement.quantity,
        problem=problem,
    )
