"""The license key revocation list: every key ever issued to a revoked activation, signed,
published beside the public keys at /.well-known/keyship-license-key-revocations.json.

    {
      "format": 1,
      "issued": "2026-12-01T09:00:00Z",
      "next_update": "2026-12-01T09:05:00Z",
      "key_id": "5f0c1e9a2b7d4c33",
      "revoked": [
        {"fingerprint": "<SHA-256 hex of the key's signed bytes>",
         "revoked_at": "2026-11-30T10:00:00Z"}
      ],
      "signature": "<base64 of the 64-byte Ed25519 signature>"
    }

An activation ends with its `revoked_at`: Customer Care revoked it, its entitlement was
revoked, or the device was rehosted. Every key it had (its key at the end and each key a
renewal or a refresh replaced) is listed by fingerprint (license_keys.py), ordered by
fingerprint. The signature, by the signing key `key_id` names (published in the JWKS), covers
the line `KEYSHIP LICENSE KEY REVOCATIONS` and a newline, followed by the document without
its `signature` member as canonical JSON: members sorted by name at every level, no
whitespace, non-ASCII escaped (`json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=True)`). A reader that does not know `format` must not trust the list.

The list is built from one query and reused from the cache (shared by every web process)
for LICENSE_KEY_REVOCATIONS_MAX_AGE seconds: `next_update` says when a newer one is there.
"""

import base64
import binascii
import datetime
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.core.contracts import Rejected, parse_json
from apps.entitlements.license_keys import (
    TIME_FORMAT,
    LicenseKeyInvalid,
    key_id,
    license_key_read,
    public_keys,
    signing_key,
)
from apps.entitlements.models import Activation, SupersededLicenseKey

FORMAT = 1
SIGNED_PREFIX = b"KEYSHIP LICENSE KEY REVOCATIONS\n"
CACHE_KEY = f"license-key-revocations:{FORMAT}"
# A list is a few dozen bytes per revoked key; one larger than this is not read.
MAX_LIST_BYTES = 64 * 1024 * 1024


class RevocationListInvalid(ValueError):
    """The text is not a revocation list that verifies; the message says why."""


@dataclass(frozen=True)
class RevocationList:
    issued: datetime.datetime
    next_update: datetime.datetime
    key_id: str
    revoked: dict[str, datetime.datetime]  # fingerprint -> when its activation was revoked


def _canonical(document: dict) -> bytes:
    unsigned = {name: value for name, value in document.items() if name != "signature"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return SIGNED_PREFIX + text.encode()


def _time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime(TIME_FORMAT)


def _revoked_keys() -> dict[str, datetime.datetime]:
    """Fingerprint -> revoked_at of every key of a revoked activation, in one query."""
    # No ORDER BY in the parts (the models' default ordering): SQLite refuses one in a
    # compound statement, and the list is ordered by fingerprint anyway.
    current = (
        Activation.objects.filter(revoked_at__isnull=False)
        .order_by()
        .values_list("license_key", "revoked_at")
    )
    replaced = (
        SupersededLicenseKey.objects.filter(activation__revoked_at__isnull=False)
        .order_by()
        .values_list("license_key", "activation__revoked_at")
    )
    revoked = {}
    for text, revoked_at in current.union(replaced, all=True).iterator(chunk_size=5000):
        try:
            fingerprint = license_key_read(text).fingerprint
        except LicenseKeyInvalid:  # not a signed key (one imported in another shape)
            continue
        revoked[fingerprint] = min(revoked_at, revoked.get(fingerprint, revoked_at))
    return revoked


def revocation_list_build(*, now: datetime.datetime | None = None) -> dict:
    """A freshly signed revocation list, as of now (read-only: writes nothing)."""
    now = (now or timezone.now()).replace(microsecond=0)
    private = signing_key()
    revoked = _revoked_keys()
    document = {
        "format": FORMAT,
        "issued": _time(now),
        "next_update": _time(
            now + datetime.timedelta(seconds=settings.LICENSE_KEY_REVOCATIONS_MAX_AGE)
        ),
        "key_id": key_id(private.public_key()),
        "revoked": [
            {"fingerprint": fingerprint, "revoked_at": _time(revoked[fingerprint])}
            for fingerprint in sorted(revoked)
        ],
    }
    document["signature"] = base64.b64encode(private.sign(_canonical(document))).decode()
    return document


def revocation_list_published() -> dict:
    """The list as published: the cached one while it is younger than
    LICENSE_KEY_REVOCATIONS_MAX_AGE, else a new one (which the cache then keeps)."""
    document = cache.get(CACHE_KEY)
    if document is None:
        document = revocation_list_build()
        cache.set(CACHE_KEY, document, timeout=settings.LICENSE_KEY_REVOCATIONS_MAX_AGE)
    return document


def _parsed_time(value, name: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        raise RevocationListInvalid(f"{name} is a time (YYYY-MM-DDTHH:MM:SSZ).") from None


def revocation_list_verify(text: str | bytes) -> RevocationList:
    """Check a revocation list's signature with the published public keys and read it."""
    if len(text) > MAX_LIST_BYTES:
        raise RevocationListInvalid("The revocation list is larger than any Keyship writes.")
    # A member written twice is refused too: the signature covers the canonical form of what
    # this reader reads, and a reader that took the other value would trust a list that was
    # never signed, such as an empty "revoked" written before the genuine one.
    try:
        document = parse_json(
            text.decode("utf-8") if isinstance(text, bytes) else text, "The revocation list"
        )
    except UnicodeDecodeError:
        raise RevocationListInvalid("The revocation list is not JSON.") from None
    except Rejected as rejected:
        raise RevocationListInvalid(f"{rejected.errors[0]}: do not trust the list.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RevocationListInvalid(
            f"Not a revocation list of a known format (known: {FORMAT}): do not trust it."
        )
    public = public_keys().get(str(document.get("key_id")))
    if public is None:
        raise RevocationListInvalid(
            f"No published signing key has the id {str(document.get('key_id'))[:20]!r}."
        )
    try:
        public.verify(
            base64.b64decode(str(document.get("signature")), validate=True),
            _canonical(document),
        )
    except (binascii.Error, ValueError, InvalidSignature):
        raise RevocationListInvalid(
            "The revocation list's signature does not match: it was changed or is not "
            "genuine. Do not trust it."
        ) from None
    revoked = {}
    entries = document.get("revoked")
    if not isinstance(entries, list):
        raise RevocationListInvalid("revoked is a list.")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise RevocationListInvalid("Each revoked entry has a fingerprint and revoked_at.")
        revoked[entry["fingerprint"]] = _parsed_time(entry.get("revoked_at"), "revoked_at")
    return RevocationList(
        issued=_parsed_time(document.get("issued"), "issued"),
        next_update=_parsed_time(document.get("next_update"), "next_update"),
        key_id=document["key_id"],
        revoked=revoked,
    )
