"""Activations: an entitlement bound to device serial numbers, one seat each."""

import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.catalog.models import DeliveryMethod
from apps.core import metrics
from apps.core.actors import actor_user
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.core.search_terms import SERIAL_NUMBER
from apps.core.services import audit_event_record
from apps.entitlements.changes import entitlement_calendar_changes, entitlement_changes_record
from apps.entitlements.license_keys import license_key_sign
from apps.entitlements.models import (
    Activation,
    ChangeKind,
    Entitlement,
    EntitlementStatus,
    SupersededLicenseKey,
    Term,
)

MAX_SERIALS_PER_REQUEST = 500
SEATS_PER_DEVICE = 1


def serial_numbers_parse(text: str) -> list[str]:
    """The serial numbers in `text`, one per line (commas and spaces also separate), upper-cased
    and without repeats. Rejected with every bad line when one is not a serial number."""
    serials: list[str] = []
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for word in re.split(r"[,;\s]+", line.strip().upper()):
            if not word:
                continue
            if not SERIAL_NUMBER.match(word):
                problems.append(
                    _(
                        'line %(number)d: "%(word)s" is not a serial number (2 to 64 letters, '
                        "digits, dots, dashes, slashes or underscores)"
                    )
                    % {"number": number, "word": word[:70]}
                )
            elif word not in serials:
                serials.append(word)
    if not serials and not problems:
        problems.append(_("Enter at least one serial number."))
    if len(serials) > MAX_SERIALS_PER_REQUEST:
        problems.append(
            _("At most %(count)d serial numbers at a time.") % {"count": MAX_SERIALS_PER_REQUEST}
        )
    if problems:
        raise Rejected(problems)
    return serials


def _activation_problem(entitlement: Entitlement) -> str | None:
    product = entitlement.product
    if product.delivery_method != DeliveryMethod.JAL:
        return _("%(product)s is delivered as “%(method)s”: it is not activated on devices.") % {
            "product": product.name,
            "method": product.get_delivery_method_display(),
        }
    if entitlement.status == EntitlementStatus.SUSPENDED:
        return _(
            "The entitlement %(ssrn)s is suspended: no device can be activated until it is "
            "reinstated. Please contact Customer Care."
        ) % {"ssrn": entitlement.ssrn}
    if entitlement.status in (EntitlementStatus.EXPIRED, EntitlementStatus.REVOKED):
        return _("The entitlement %(ssrn)s is %(status)s: no device can be activated.") % {
            "ssrn": entitlement.ssrn,
            "status": EntitlementStatus(entitlement.status).label.lower(),
        }
    return None


def activation_license_key(entitlement: Entitlement, serial: str, now) -> str:
    """A device's key with the entitlement's dates as they stand: it works through the grace
    period of an initial subscription, through the term end of a renewal."""
    return license_key_sign(
        ssrn=entitlement.ssrn,
        sku=entitlement.product.sku,
        serial=serial,
        seats=SEATS_PER_DEVICE,
        term_ends_on=entitlement.term_ends_on,
        works_until=entitlement.works_until,
        issued_at=now,
    )


def activation_keys_reissue(*, entitlement: Entitlement, renewal: Term | None, actor) -> int:
    """Give every live activation of the entitlement a fresh key with its current dates;
    returns how many. Call inside the transaction that changed the dates (a renewal ships),
    with the entitlement's row locked, so the new keys are there the moment the dates are.

    Each replaced key is kept as a SupersededLicenseKey (linked to the renewal that replaced
    it), so the history shows it and verification tells it apart from a forged key; the
    activation then holds the new key, which the same serial gets again. Audited, with the
    serial numbers only: a key never goes into audit data.
    """
    activations = list(
        entitlement.activations.filter(revoked_at__isnull=True).order_by("serial_number")
    )
    if not activations:
        return 0
    now = timezone.now()
    SupersededLicenseKey.objects.bulk_create(
        SupersededLicenseKey(
            activation=activation,
            license_key=activation.license_key,
            superseded_at=now,
            renewal=renewal,
        )
        for activation in activations
    )
    for activation in activations:
        activation.license_key = activation_license_key(entitlement, activation.serial_number, now)
    Activation.objects.bulk_update(activations, ["license_key"])
    audit_event_record(
        actor=actor,
        action="activation.keys_reissued",
        target=entitlement,
        message=(
            f"{len(activations)} license key(s) re-issued: term ends "
            f"{entitlement.term_ends_on}, devices work until {entitlement.works_until}"
        ),
        data={
            "serial_numbers": [activation.serial_number for activation in activations],
            "term_ends_on": str(entitlement.term_ends_on),
            "works_until": str(entitlement.works_until),
            "renewal_term": renewal.sequence if renewal else None,
        },
    )
    return len(activations)


@transaction.atomic
def activations_create(*, entitlement_id: int, serial_numbers: list[str], actor) -> list:
    """Activate the entitlement on each serial number; returns its activation per serial,
    in the order given.

    One transaction holding the entitlement's row lock, so that two requests at once cannot
    both take the last seat. A serial already activated returns its existing activation and
    key and takes no new seat; the request is refused whole when the new serials need more
    seats than are free. Safe to repeat: a second call with the same serials creates nothing.
    """
    entitlement = (
        Entitlement.objects.select_for_update(of=("self",))
        .with_status(business_today())
        .select_related("product")
        .get(pk=entitlement_id)
    )
    problem = _activation_problem(entitlement)
    if problem:
        raise Rejected([problem])
    live = {a.serial_number: a for a in entitlement.activations.filter(revoked_at__isnull=True)}
    new = [serial for serial in serial_numbers if serial not in live]
    free = entitlement.quantity - len(live) * SEATS_PER_DEVICE
    if len(new) * SEATS_PER_DEVICE > free:
        raise Rejected(
            [
                _(
                    "%(devices)d new device(s) need %(needed)d seat(s), but %(free)d of the "
                    "%(quantity)d seats of %(ssrn)s are free."
                )
                % {
                    "devices": len(new),
                    "needed": len(new) * SEATS_PER_DEVICE,
                    "free": free,
                    "quantity": entitlement.quantity,
                    "ssrn": entitlement.ssrn,
                }
            ]
        )
    now = timezone.now()
    created = Activation.objects.bulk_create(
        Activation(
            entitlement=entitlement,
            serial_number=serial,
            activated_by=actor_user(actor),
            license_key=activation_license_key(entitlement, serial, now),
        )
        for serial in new
    )
    live.update((activation.serial_number, activation) for activation in created)
    if created:
        devices = len(created)
        transaction.on_commit(lambda: metrics.activations.inc(devices))
        audit_event_record(
            actor=actor,
            action="entitlement.activated",
            target=entitlement,
            data={"serial_numbers": new},
        )
        Entitlement.objects.filter(pk=entitlement.pk).update(updated_at=now)
        # A move the calendar made before the job told it is told first (the row is
        # locked), so the feed keeps the entitlement's story in order.
        entitlement_calendar_changes(entitlements=[entitlement], today=business_today())
        entitlement_changes_record(
            entitlements=[entitlement],
            kind=ChangeKind.ACTIVATED,
            data={"serial_numbers": new, "seats_used": len(live) * SEATS_PER_DEVICE},
        )
    return [live[serial] for serial in serial_numbers]


@transaction.atomic
def activations_revoke(*, activation_ids, actor, reason: str) -> int:
    """Revoke live activations, freeing their seats; returns how many were revoked.

    Locks each entitlement first, as activation does, so a revoke and an activation of the
    same entitlement take turns. Revoking a revoked activation does nothing.
    """
    activations = Activation.objects.filter(pk__in=activation_ids, revoked_at__isnull=True)
    entitlement_ids = sorted(set(activations.values_list("entitlement_id", flat=True)))
    locked = list(
        Entitlement.objects.select_for_update().filter(pk__in=entitlement_ids).order_by("pk")
    )
    # As activation does: the calendar's untold moves come first in the feed.
    entitlement_calendar_changes(entitlements=locked, today=business_today())
    revoked = 0
    now = timezone.now()
    for activation in activations.select_related("entitlement"):
        activation.revoked_at, activation.revoke_reason = now, reason
        activation.save(update_fields=["revoked_at", "revoke_reason"])
        audit_event_record(
            actor=actor,
            action="activation.revoked",
            target=activation.entitlement,
            message=reason,
            data={"serial_number": activation.serial_number},
        )
        entitlement_changes_record(
            entitlements=[activation.entitlement],
            kind=ChangeKind.ACTIVATION_REVOKED,
            # The reason is the customer's to read, as the portal's device list shows it.
            data={"serial_number": activation.serial_number, "reason": reason},
        )
        revoked += 1
    Entitlement.objects.filter(pk__in=entitlement_ids).update(updated_at=now)
    return revoked
