"""Checking a license key against what Keyship issued: genuine, current, outdated or expired.

The signature says whether Keyship signed the key; the records say whether it is still the
key of its device. A renewal re-issues every live activation's key, so a genuine key may be
outdated: its device keeps working until the key's own end, and the newer key is in the
portal.
"""

import datetime
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.urls import reverse

from apps.entitlements.license_keys import (
    KeyState,
    LicenseKey,
    LicenseKeyInvalid,
    license_key_read,
    license_key_verify,
)
from apps.entitlements.models import Activation, Entitlement


class KeyVerdict(StrEnum):
    CURRENT = "current"  # genuine, the device's key on record, working (in term or in grace)
    OUTDATED = "outdated"  # genuine, but a newer key exists for this device
    EXPIRED = "expired"  # genuine and the device's key on record, but past its last day
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


def license_key_check(*, text: str, today: datetime.date) -> KeyCheck:
    """Verify a key's signature, then compare it with the key on record for its device."""
    try:
        key = license_key_verify(text)
    except LicenseKeyInvalid as error:
        return KeyCheck(verdict=KeyVerdict.INVALID, problem=str(error))
    state = key.state(today)
    entitlement = Entitlement.objects.filter(ssrn=key.ssrn).first()
    if entitlement is None:
        return KeyCheck(verdict=KeyVerdict.NOT_ISSUED_HERE, key=key, state=state)
    portal_url = settings.SITE_URL + reverse("portal:entitlement", args=[entitlement.ssrn])
    found = dict(key=key, state=state, portal_url=portal_url)
    if entitlement.revoked_at:
        return KeyCheck(
            verdict=KeyVerdict.REVOKED, revoked_on=entitlement.revoked_at.date(), **found
        )
    activations = Activation.objects.filter(entitlement=entitlement, serial_number=key.serial)
    live = activations.filter(revoked_at__isnull=True).first()
    if live is None:
        revoked = activations.exclude(revoked_at__isnull=True).order_by("-revoked_at").first()
        if revoked is None:
            return KeyCheck(verdict=KeyVerdict.NOT_ISSUED_HERE, **found)
        return KeyCheck(verdict=KeyVerdict.REVOKED, revoked_on=revoked.revoked_at.date(), **found)
    on_record = license_key_read(live.license_key)
    if on_record.signature != key.signature:
        if key.issued_at > on_record.issued_at:  # newer than ours: signed elsewhere
            return KeyCheck(verdict=KeyVerdict.NOT_ISSUED_HERE, **found)
        return KeyCheck(verdict=KeyVerdict.OUTDATED, newer=on_record, **found)
    if state == KeyState.EXPIRED:
        return KeyCheck(verdict=KeyVerdict.EXPIRED, **found)
    return KeyCheck(verdict=KeyVerdict.CURRENT, **found)
