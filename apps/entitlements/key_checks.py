"""Checking a license key against what Keyship issued: genuine, current, outdated, stale,
expired or revoked.

The signature says whether Keyship signed the key; a revocation list (revocations.py), when
given, and the records say whether it is still the key of its device. A renewal re-issues
every live activation's key, and a device's refresh replaces its own, so a genuine key may be
outdated: its device keeps working until the key's own end, and the newer key is in the
portal. A format 3 key past its Expires is stale: its device no longer trusts it until it
refreshes it.
"""

import datetime
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from apps.entitlements.license_keys import (
    KeyState,
    LicenseKey,
    LicenseKeyInvalid,
    license_key_read,
    license_key_verify,
)
from apps.entitlements.models import Activation, Entitlement
from apps.entitlements.revocations import RevocationList


class KeyVerdict(StrEnum):
    CURRENT = "current"  # genuine, the device's key on record, working (in term or in grace)
    OUTDATED = "outdated"  # genuine, but a newer key exists for this device
    EXPIRED = "expired"  # genuine and the device's key on record, but past its last day
    STALE = "stale"  # genuine, but past its Expires: the device must refresh it
    REVOKED = "revoked"  # genuine, but the entitlement or the device's activation is revoked
    NOT_ISSUED_HERE = "not_issued_here"  # genuine, but no such activation in these records
    INVALID = "invalid"  # forged, changed, unknown signing key or not a key at all


@dataclass(frozen=True)
class KeyCheck:
    verdict: KeyVerdict
    problem: str = ""  # why an INVALID key does not verify
    key: LicenseKey | None = None
    state: KeyState | None = None  # the key's own dates on the day checked
    newer: LicenseKey | None = None  # the device's current key, when this one is outdated
    portal_url: str = ""  # where the entitlement's keys are downloaded
    revoked_on: datetime.date | None = None


def license_key_check(
    *,
    text: str,
    today: datetime.date,
    now: datetime.datetime | None = None,
    revocations: RevocationList | None = None,
) -> KeyCheck:
    """Verify a key's signature; then a key the revocation list names is revoked; then find
    the activation of its device that issued it: its key now (current, expired or stale), one
    a renewal or a refresh replaced (outdated, or stale once past its Expires), or one of a
    revoked activation (revoked). `now` (default: now) is what Expires is compared with."""
    try:
        key = license_key_verify(text)
    except LicenseKeyInvalid as error:
        return KeyCheck(verdict=KeyVerdict.INVALID, problem=str(error))
    state = key.state(today)
    stale = key.stale(now or timezone.now())
    if revocations is not None and key.fingerprint in revocations.revoked:
        revoked_at = revocations.revoked[key.fingerprint]
        return KeyCheck(
            verdict=KeyVerdict.REVOKED, key=key, state=state, revoked_on=revoked_at.date()
        )
    entitlement = Entitlement.objects.filter(ssrn=key.ssrn).first()
    if entitlement is None:
        verdict = KeyVerdict.STALE if stale else KeyVerdict.NOT_ISSUED_HERE
        return KeyCheck(verdict=verdict, key=key, state=state)
    portal_url = settings.SITE_URL + reverse("portal:entitlement", args=[entitlement.ssrn])
    found = dict(key=key, state=state, portal_url=portal_url)
    if entitlement.revoked_at:
        return KeyCheck(
            verdict=KeyVerdict.REVOKED, revoked_on=entitlement.revoked_at.date(), **found
        )
    # Which activation of this device issued the key, as its key now or one a renewal
    # replaced: a serial revoked and then activated again has several, and a key of the
    # revoked one is revoked, not outdated, however its date compares with the live key's.
    activations = list(
        Activation.objects.filter(entitlement=entitlement, serial_number=key.serial)
        .prefetch_related("superseded_keys")
        .order_by("-pk")
    )
    for activation in activations:
        current = license_key_read(activation.license_key)
        replaced = [license_key_read(old.license_key) for old in activation.superseded_keys.all()]
        if key.signature not in {current.signature, *(old.signature for old in replaced)}:
            continue
        if activation.revoked_at is not None:
            return KeyCheck(
                verdict=KeyVerdict.REVOKED, revoked_on=activation.revoked_at.date(), **found
            )
        if current.signature != key.signature:
            verdict = KeyVerdict.STALE if stale else KeyVerdict.OUTDATED
            return KeyCheck(verdict=verdict, newer=current, **found)
        if state == KeyState.EXPIRED:
            return KeyCheck(verdict=KeyVerdict.EXPIRED, **found)
        if stale:
            return KeyCheck(verdict=KeyVerdict.STALE, **found)
        return KeyCheck(verdict=KeyVerdict.CURRENT, **found)
    if activations and all(a.revoked_at for a in activations):
        # A device whose every activation is revoked: whatever genuine key it shows, it has
        # no seat here.
        revoked = max(activations, key=lambda a: a.revoked_at)
        return KeyCheck(verdict=KeyVerdict.REVOKED, revoked_on=revoked.revoked_at.date(), **found)
    # Genuine, but no activation here issued it (another deployment's, a test system's).
    return KeyCheck(verdict=KeyVerdict.STALE if stale else KeyVerdict.NOT_ISSUED_HERE, **found)
