"""A device refreshes its license key: the key it holds buys a fresh one (what Keygen calls a
checkout), so that keys can be short-lived and a revoke or a rehost reaches the device.

The key is the only credential: it must verify with a published signing key and be a key
Keyship issued to that device (its activation's key now, or one a renewal or an earlier
refresh replaced: a device may not have received the answer to its last refresh). A live
activation of an active or grace entitlement gets a new key with the entitlement's dates as
they stand and a new Expires; the key it replaces is kept as a SupersededLicenseKey (with no
renewal), so it is still told apart from a forged one and, once the activation is revoked,
lands in the revocation list.

Not audited: every device refreshes at least once per LICENSE_KEY_REFRESH_DAYS, which would
swamp the audit trail with rows that change nothing a customer owns. The activation's
`last_refreshed_at`, the replaced keys (with their time) and the refresh counter in /metrics
record them instead.
"""

import hmac
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from apps.core import metrics
from apps.core.dates import business_today
from apps.entitlements.activations import activation_license_key
from apps.entitlements.license_keys import (
    LicenseKey,
    LicenseKeyInvalid,
    license_key_read,
    license_key_verify,
)
from apps.entitlements.models import (
    Activation,
    Entitlement,
    EntitlementStatus,
    SupersededLicenseKey,
)


class RefreshStatus(StrEnum):
    REFRESHED = "refreshed"
    INVALID = "invalid"  # does not verify, or not a key Keyship issued to this device
    REVOKED = "revoked"  # the activation (or the entitlement) is revoked, or rehosted
    SUSPENDED = "suspended"
    EXPIRED = "expired"  # the subscription's term and grace are over


@dataclass(frozen=True)
class Refresh:
    status: RefreshStatus
    license_key: str = ""  # the new key, when refreshed; a secret: never log it


def _same_key(stored: str, key: LicenseKey) -> bool:
    """Whether a stored key is `key`: the same signed bytes and signature, however the text
    travelled (line endings, indentation)."""
    try:
        known = license_key_read(stored)
    except LicenseKeyInvalid:  # a key imported in another shape
        return False
    # Constant-time, though the presented key is already genuine: no timing tells how much
    # of a stored key a guess shares.
    return hmac.compare_digest(known.fingerprint, key.fingerprint) & hmac.compare_digest(
        known.signature, key.signature
    )


def _issuing_activation(entitlement: Entitlement, key: LicenseKey) -> Activation | None:
    """The activation of the key's device that issued exactly this key, now or before."""
    activations = (
        Activation.objects.filter(entitlement=entitlement, serial_number=key.serial)
        .prefetch_related("superseded_keys")
        .order_by("-pk")
    )
    for activation in activations:
        stored = [
            activation.license_key,
            *(old.license_key for old in activation.superseded_keys.all()),
        ]
        if any(_same_key(text, key) for text in stored):
            return activation
    return None


def _answer(status: RefreshStatus, license_key: str = "") -> Refresh:
    transaction.on_commit(lambda: metrics.license_key_refreshes.labels(status=status).inc())
    return Refresh(status=status, license_key=license_key)


@transaction.atomic
def license_key_refresh(*, text: str) -> Refresh:
    """A fresh key for the device whose key `text` is, or why not (writing nothing then).

    One transaction holding the entitlement's row lock, as activation, revoke, suspend and a
    renewal's re-issue do: a refresh never hands out a key after a revoke or a suspension has
    committed, and two refreshes of one device take turns. Safe to repeat: each call replaces
    the device's key with a new one, and any key the device held before still buys the next.
    """
    try:
        key = license_key_verify(text)
    except LicenseKeyInvalid:
        return _answer(RefreshStatus.INVALID)
    today = business_today()
    entitlement = (
        Entitlement.objects.select_for_update(of=("self",))
        .with_status(today)
        .select_related("product")
        .filter(ssrn=key.ssrn)
        .first()
    )
    activation = _issuing_activation(entitlement, key) if entitlement else None
    if activation is None:
        # Genuine, but not this device's: another deployment's, or a serial whose records
        # hold other keys. Answered as a forgery is, so it tells nothing about the records.
        return _answer(RefreshStatus.INVALID)
    if activation.revoked_at or entitlement.status == EntitlementStatus.REVOKED:
        return _answer(RefreshStatus.REVOKED)
    if entitlement.status == EntitlementStatus.SUSPENDED:
        return _answer(RefreshStatus.SUSPENDED)
    if entitlement.status == EntitlementStatus.EXPIRED:
        return _answer(RefreshStatus.EXPIRED)
    now = timezone.now()
    SupersededLicenseKey.objects.create(
        activation=activation, license_key=activation.license_key, superseded_at=now
    )
    activation.license_key = activation_license_key(entitlement, activation.serial_number, now)
    activation.last_refreshed_at = now
    activation.save(update_fields=["license_key", "last_refreshed_at"])
    return _answer(RefreshStatus.REFRESHED, activation.license_key)
