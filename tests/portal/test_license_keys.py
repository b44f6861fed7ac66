"""License keys verify offline with the published public keys, across a key rotation."""

import base64
import datetime
import io

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.entitlements.license_keys import (
    LicenseKeyInvalid,
    license_key_sign,
    license_key_verify,
    public_key_set,
)

ISSUED = datetime.datetime(2026, 11, 28, 9, 15, tzinfo=datetime.UTC)


def _key(**fields):
    values = {
        "ssrn": "7QK2-M9XD-41HC",
        "sku": "KS-FW-ADV-1Y",
        "serial": "FTX2231A0BC",
        "seats": 1,
        "term_ends_on": datetime.date(2027, 12, 31),
        "works_until": datetime.date(2028, 1, 30),
        "issued_at": ISSUED,
    }
    return license_key_sign(**{**values, **fields})


def _new_signing_key() -> tuple[str, str]:
    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes_raw()
    return (
        base64.b64encode(private.private_bytes_raw()).decode(),
        base64.b64encode(raw_public).decode(),
    )


def test_a_key_carries_what_it_grants_and_verifies():
    key = license_key_verify(_key())

    assert (key.ssrn, key.sku, key.serial, key.seats) == (
        "7QK2-M9XD-41HC",
        "KS-FW-ADV-1Y",
        "FTX2231A0BC",
        1,
    )
    assert (key.term_ends_on, key.issued_at) == (datetime.date(2027, 12, 31), ISSUED)
    assert license_key_verify(_key(term_ends_on=None, works_until=None)).term_ends_on is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("Serial: FTX2231A0BC", "Serial: FTX2231A0BD"), "does not match"),
        (lambda t: t.replace("Seats: 1", "Seats: 9"), "does not match"),
        (lambda t: t.replace("Term-Ends: 2027-12-31", "Term-Ends: perpetual"), "does not match"),
        (lambda t: t.replace("Key-Id: ", "Key-Id: 00"), "No published signing key"),
        (lambda t: "\n".join(t.splitlines()[1:]), "starts with"),
        (lambda t: t.replace("SKU:", "Sku:"), "has the fields"),
    ],
)
def test_a_changed_key_does_not_verify_and_says_why(change, message):
    with pytest.raises(LicenseKeyInvalid, match=message):
        license_key_verify(change(_key()))


def test_after_a_rotation_old_keys_still_verify_while_the_old_public_key_is_published(settings):
    old_private, old_public = _new_signing_key()
    new_private, _public = _new_signing_key()
    settings.LICENSE_SIGNING_KEY = old_private
    old_key = _key()

    # Rotate: a new signing key, the old one's public half kept
    settings.LICENSE_SIGNING_KEY = new_private
    settings.LICENSE_RETIRED_PUBLIC_KEYS = [old_public]
    new_key = _key()
    assert license_key_verify(old_key).key_id != license_key_verify(new_key).key_id
    assert len(public_key_set()["keys"]) == 2

    # Once the old public key is withdrawn, its keys no longer verify
    settings.LICENSE_RETIRED_PUBLIC_KEYS = []
    with pytest.raises(LicenseKeyInvalid, match="No published signing key"):
        license_key_verify(old_key)


def test_the_public_keys_are_published_and_verify_a_key_without_the_server(client, settings, db):
    text = _key()
    published = client.get(reverse("license-public-keys")).json()

    (jwk,) = published["keys"]
    raw = base64.urlsafe_b64decode(jwk["x"] + "==")
    fields = dict(line.split(": ", 1) for line in text.strip().splitlines()[1:-1])
    signed = "KEYSHIP LICENSE KEY\n" + "".join(
        f"{name}: {value}\n" for name, value in fields.items() if name != "Signature"
    )
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.b64decode(fields["Signature"]), signed.encode()
    )
    assert jwk["kid"] == fields["Key-Id"]
    assert settings.LICENSE_SIGNING_KEY not in str(published)


def test_the_command_verifies_a_file_of_keys_and_fails_on_a_bad_one(tmp_path, db):
    good, other = _key(), _key(serial="FTX2231A0BD")
    keys = tmp_path / "keys.txt"
    keys.write_text(good + "\n" + other)
    out = io.StringIO()

    call_command("verify_license_key", str(keys), stdout=out)

    assert out.getvalue().count(": valid:") == 2
    assert "serial FTX2231A0BD" in out.getvalue()
    keys.write_text(good + other.replace("Seats: 1", "Seats: 2"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 key"):
        call_command("verify_license_key", str(keys), stdout=io.StringIO(), stderr=err)
    assert "key 2: INVALID: The signature does not match" in err.getvalue()


def test_a_development_key_is_made_once_under_var(settings, tmp_path):
    settings.LICENSE_SIGNING_KEY = ""
    settings.LICENSE_DEVELOPMENT_KEY_FILE = tmp_path / "license-signing-key"
    first = license_key_verify(_key()).key_id
    assert settings.LICENSE_DEVELOPMENT_KEY_FILE.stat().st_mode & 0o077 == 0
    assert license_key_verify(_key()).key_id == first
