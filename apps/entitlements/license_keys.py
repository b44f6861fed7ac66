"""License keys: what a device verifies offline, signed with Ed25519.

A key is plain text that survives email and copy-paste:

    -----BEGIN KEYSHIP LICENSE KEY-----
    Format: 3
    Key-Id: 5f0c1e9a2b7d4c33
    SSRN: 7QK2-M9XD-41HC
    SKU: KS-FW-ADV-1Y
    Serial: FTX2231A0BC
    Seats: 1
    Term-Ends: 2027-12-31
    Works-Until: 2028-01-30
    Issued: 2026-11-28T09:15:00Z
    Expires: 2026-12-28T09:15:00Z
    Signature: <base64 of 64 bytes>
    -----END KEYSHIP LICENSE KEY-----

What a device enforces is `Works-Until`: the key works through that day and stops the day
after. `Term-Ends` is the end of the paid term: from the day after it until `Works-Until` the
subscription is in its grace period, and a device keeps working but warns that it needs a
renewal. An initial subscription's key works until its grace end (term end + 30 days); a
renewal has no grace, so its key works until its term end (both dates are equal). Both are
`perpetual` for a license without an end. A renewal re-issues the keys of every live
activation with the new dates; the keys issued before stay valid signatures, and work on
their devices until their own `Works-Until`.

`Expires` (format 3) is when the device stops trusting this key, whatever its other dates
say: before then it fetches a fresh key from the refresh endpoint (key_refresh.py), which
answers only while the activation is live and the entitlement neither suspended, revoked nor
expired. So a revoke or a rehost reaches a device within LICENSE_KEY_REFRESH_DAYS, even one
that never reads the revocation list. Every key Keyship signs now carries it: issued plus
LICENSE_KEY_REFRESH_DAYS, never after the end of `Works-Until`.

Format 1 (before `Works-Until` existed) has no `Works-Until` line: its devices stop after
`Term-Ends`, and verification reads it that way. Format 2 has no `Expires`: its devices
trust it until `Works-Until`. Keys of every format verify.

The signature covers the line `KEYSHIP LICENSE KEY` and every field line above `Signature`,
each ending in a newline, in this order and exactly as written. A key's fingerprint is the
SHA-256 (hex) of those signed bytes: the revocation list names keys by it. `Key-Id` names
the signing key: the first 16 hex digits of the SHA-256 of its raw 32-byte public key. The
public keys are published at /.well-known/keyship-license-keys.json, so keys signed by a
retired signing key still verify while new keys are signed by the current one. The
revocation list (revocations.py) is published beside them.

The private key comes from LICENSE_SIGNING_KEY (base64 of the raw 32 bytes); in development
one is generated under var/. It is never shown on a page or written to a log.
"""

import base64
import binascii
import datetime
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.core.dates import business_day_start

BEGIN = "-----BEGIN KEYSHIP LICENSE KEY-----"
END = "-----END KEYSHIP LICENSE KEY-----"
FORMAT = "3"
# The fields of each format, in order. New keys are written in FORMAT; older formats still
# verify, since devices in the field hold them.
FORMAT_FIELDS = {
    "1": ("Format", "Key-Id", "SSRN", "SKU", "Serial", "Seats", "Term-Ends", "Issued"),
    "2": (
        "Format",
        "Key-Id",
        "SSRN",
        "SKU",
        "Serial",
        "Seats",
        "Term-Ends",
        "Works-Until",
        "Issued",
    ),
    "3": (
        "Format",
        "Key-Id",
        "SSRN",
        "SKU",
        "Serial",
        "Seats",
        "Term-Ends",
        "Works-Until",
        "Issued",
        "Expires",
    ),
}
FIELDS = FORMAT_FIELDS[FORMAT]
PERPETUAL = "perpetual"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class LicenseKeyInvalid(ValueError):
    """The text is not a license key that verifies; the message says why."""


class KeyState(StrEnum):
    """Where a key stands on a given day, as its device sees it (the entitlement's status
    words: active, then grace, then expired)."""

    ACTIVE = "active"
    GRACE = "grace"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LicenseKey:
    key_id: str
    ssrn: str
    sku: str
    serial: str
    seats: int
    term_ends_on: datetime.date | None
    works_until: datetime.date | None  # the last day the device works; None: perpetual
    issued_at: datetime.datetime
    format: str
    signature: str
    fingerprint: str  # SHA-256 (hex) of the signed bytes: the revocation list's name for it
    expires_at: datetime.datetime | None = None  # format 3: not trusted from then on

    def stale(self, now: datetime.datetime) -> bool:
        """Whether the key is past its Expires: its device no longer trusts it and must
        refresh it (a key without Expires never is)."""
        return self.expires_at is not None and now >= self.expires_at

    def state(self, today: datetime.date) -> KeyState:
        """The key on `today`: active through the term end, in grace until it stops working,
        expired after that. A perpetual key is always active."""
        if self.term_ends_on is None or today <= self.term_ends_on:
            return KeyState.ACTIVE
        if self.works_until is not None and today <= self.works_until:
            return KeyState.GRACE
        return KeyState.EXPIRED


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _private_from_base64(text: str, name: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be the base64 of a raw 32-byte Ed25519 private key."
        ) from None


def _development_key(path: Path) -> Ed25519PrivateKey:
    """The development signing key under var/, made on first use (readable by its owner only)."""
    if not path.exists():
        raw = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw())
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(raw + b"\n")
    return _private_from_base64(path.read_text(), str(path))


@cache
def _signing_key(configured: str, development_path: str) -> Ed25519PrivateKey:
    if configured:
        return _private_from_base64(configured, "LICENSE_SIGNING_KEY")
    if not development_path:
        raise ImproperlyConfigured("LICENSE_SIGNING_KEY must be set when DEBUG is off.")
    return _development_key(Path(development_path))


def signing_key() -> Ed25519PrivateKey:
    return _signing_key(
        settings.LICENSE_SIGNING_KEY, str(settings.LICENSE_DEVELOPMENT_KEY_FILE or "")
    )


@cache
def _retired_keys(configured: tuple[str, ...]) -> tuple[Ed25519PublicKey, ...]:
    keys = []
    for text in configured:
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)))
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                "LICENSE_RETIRED_PUBLIC_KEYS holds base64 raw 32-byte Ed25519 public keys."
            ) from None
    return tuple(keys)


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every key a license key may be signed with, by key id: the current one first."""
    current = signing_key().public_key()
    keys = {key_id(current): current}
    for retired in _retired_keys(tuple(settings.LICENSE_RETIRED_PUBLIC_KEYS)):
        keys.setdefault(key_id(retired), retired)
    return keys


def public_key_set() -> dict:
    """The public keys as a JSON Web Key Set (RFC 8037), for the well-known URL."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "kid": kid,
                "x": base64.urlsafe_b64encode(_raw_public(key)).rstrip(b"=").decode(),
            }
            for kid, key in public_keys().items()
        ]
    }


def _signed_bytes(fields: dict[str, str]) -> bytes:
    names = FORMAT_FIELDS[fields["Format"]]
    return ("KEYSHIP LICENSE KEY\n" + "".join(f"{n}: {fields[n]}\n" for n in names)).encode()


def _day(value: datetime.date | None) -> str:
    return value.isoformat() if value else PERPETUAL


def _time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime(TIME_FORMAT)


def license_key_expiry(
    *, issued_at: datetime.datetime, works_until: datetime.date | None
) -> datetime.datetime:
    """When a key issued at `issued_at` expires: LICENSE_KEY_REFRESH_DAYS later, but never
    after the end of its Works-Until day (in the business time zone, where the key's days
    are counted), and never before it was issued (a key whose days are over is born stale)."""
    expires = issued_at + datetime.timedelta(days=settings.LICENSE_KEY_REFRESH_DAYS)
    if works_until is not None:
        expires = min(expires, business_day_start(works_until + datetime.timedelta(days=1)))
    return max(expires, issued_at).astimezone(datetime.UTC).replace(microsecond=0)


def license_key_sign(
    *,
    ssrn: str,
    sku: str,
    serial: str,
    seats: int,
    term_ends_on: datetime.date | None,
    works_until: datetime.date | None,
    issued_at: datetime.datetime,
    expires_at: datetime.datetime | None = None,
) -> str:
    """The text of a new license key, signed with the current signing key. `works_until` is
    the last day the device works (the grace end of an initial subscription, the term end
    of a renewal); both dates are None for a perpetual license. `expires_at` is when the
    device stops trusting the key and must refresh it; by default license_key_expiry's."""
    if (term_ends_on is None) != (works_until is None) or (
        term_ends_on and works_until < term_ends_on
    ):
        raise ValueError("works_until is on or after term_ends_on, and both or neither are set")
    private = signing_key()
    fields = {
        "Format": FORMAT,
        "Key-Id": key_id(private.public_key()),
        "SSRN": ssrn,
        "SKU": sku,
        "Serial": serial,
        "Seats": str(seats),
        "Term-Ends": _day(term_ends_on),
        "Works-Until": _day(works_until),
        "Issued": _time(issued_at),
        "Expires": _time(
            expires_at or license_key_expiry(issued_at=issued_at, works_until=works_until)
        ),
    }
    signature = base64.b64encode(private.sign(_signed_bytes(fields))).decode()
    body = "".join(f"{name}: {fields[name]}\n" for name in FIELDS)
    return f"{BEGIN}\n{body}Signature: {signature}\n{END}\n"


def key_file(*, ssrn: str, keys: Iterable[str]) -> tuple[str, str]:
    """The file of an entitlement's keys, as every page and email hands it out: (name, text).

    Each key in the order given, followed by one newline and nothing between: a legacy key is
    one line, a signed key a block that ends in its END line. Devices read the keys one by
    one, and verify_license_key reads the blocks, in this one format.
    """
    text = "".join(key.rstrip("\r\n") + "\n" for key in keys)
    return f"license-keys-{ssrn}.txt", text


def _fields(text: str) -> dict[str, str]:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2 or lines[0] != BEGIN or lines[-1] != END:
        raise LicenseKeyInvalid(f"A license key starts with {BEGIN} and ends with {END}.")
    fields: dict[str, str] = {}
    for number, line in enumerate(lines[1:-1], start=2):
        name, colon, value = line.partition(":")
        if not colon:
            raise LicenseKeyInvalid(f'Line {number} is not "Name: value": {line[:40]!r}.')
        name = name.strip()
        if name in fields:
            # The signature covers one value per field: a second line of the same name (which
            # a reader that takes the first one would believe) is not part of any key we sign.
            raise LicenseKeyInvalid(f"Line {number} repeats the field {name[:20]!r}.")
        fields[name] = value.strip()
    names = FORMAT_FIELDS.get(fields.get("Format", ""))
    if names is None:
        raise LicenseKeyInvalid(
            f"Unknown license key format {fields.get('Format', '')[:10]!r} "
            f"(known: {', '.join(FORMAT_FIELDS)})."
        )
    expected = [*names, "Signature"]
    if list(fields) != expected:
        raise LicenseKeyInvalid(
            f"A format {fields['Format']} license key has the fields {', '.join(expected)}, "
            "in order."
        )
    return fields


def _date_field(fields: dict[str, str], name: str) -> datetime.date | None:
    value = fields[name]
    if value == PERPETUAL:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise LicenseKeyInvalid(f"{name} is a date (YYYY-MM-DD) or {PERPETUAL}.") from None


def license_key_read(text: str) -> LicenseKey:
    """Read a license key's fields WITHOUT checking its signature: only for keys that
    Keyship stored itself. Anything that came from outside goes through license_key_verify."""
    fields = _fields(text)
    term_ends_on = _date_field(fields, "Term-Ends")
    # A format 1 key has no Works-Until: its devices stop after the term end.
    works_until = _date_field(fields, "Works-Until") if "Works-Until" in fields else term_ends_on
    try:
        seats = int(fields["Seats"])
        issued_at = datetime.datetime.strptime(fields["Issued"], TIME_FORMAT)
        # A format 1 or 2 key has no Expires: its device trusts it until Works-Until.
        expires_at = (
            datetime.datetime.strptime(fields["Expires"], TIME_FORMAT).replace(tzinfo=datetime.UTC)
            if "Expires" in fields
            else None
        )
    except ValueError:
        raise LicenseKeyInvalid(
            "Seats is a number, Issued and Expires times (YYYY-MM-DDTHH:MM:SSZ)."
        ) from None
    return LicenseKey(
        key_id=fields["Key-Id"],
        ssrn=fields["SSRN"],
        sku=fields["SKU"],
        serial=fields["Serial"],
        seats=seats,
        term_ends_on=term_ends_on,
        works_until=works_until,
        issued_at=issued_at.replace(tzinfo=datetime.UTC),
        format=fields["Format"],
        signature=fields["Signature"],
        fingerprint=hashlib.sha256(_signed_bytes(fields)).hexdigest(),
        expires_at=expires_at,
    )


def license_key_verify(text: str) -> LicenseKey:
    """Check a license key's signature with the published public keys and read it."""
    fields = _fields(text)
    public = public_keys().get(fields["Key-Id"])
    if public is None:
        raise LicenseKeyInvalid(f"No published signing key has the id {fields['Key-Id']}.")
    try:
        public.verify(base64.b64decode(fields["Signature"], validate=True), _signed_bytes(fields))
    except (binascii.Error, ValueError, InvalidSignature):
        raise LicenseKeyInvalid(
            "The signature does not match: the key was changed or is not genuine."
        ) from None
    return license_key_read(text)
