"""Short-lived license keys: format 3 carries Expires, a device refreshes its key with the key
it holds, and a signed revocation list names every key of a revoked activation."""

import base64
import datetime
import io
import json
import logging
import threading

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from apps.core.actors import Job
from apps.entitlements import license_keys
from apps.entitlements.activations import activations_create, activations_revoke
from apps.entitlements.key_checks import KeyVerdict, license_key_check
from apps.entitlements.license_keys import (
    LicenseKeyInvalid,
    license_key_read,
    license_key_sign,
    license_key_verify,
)
from apps.entitlements.lifecycle import entitlement_revoke, entitlement_suspend
from apps.entitlements.models import Activation, SupersededLicenseKey
from apps.entitlements.revocations import revocation_list_build, revocation_list_verify
from apps.entitlements.selectors import license_keys_reissued
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import EntitlementFactory

pytestmark = pytest.mark.django_db

D = datetime.date
UTC = datetime.UTC
ACTIVATED = datetime.datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
TERM_END, GRACE_END = D(2027, 12, 1), D(2027, 12, 31)
REFRESH = "/license-keys/refresh/"


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def entitlement():
    """An initial one-year subscription for three devices, shipped on 1 December 2026."""
    product = ProductFactory(sku="TD-1Y", subscription=True)
    return EntitlementFactory(
        order_line__product=product,
        order_line__quantity=3,
        starts_on=D(2026, 12, 1),
        term_ends_on=TERM_END,
        grace_ends_on=GRACE_END,
    )


def activate(entitlement, *serials, moment=ACTIVATED):
    with at(moment):
        return activations_create(
            entitlement_id=entitlement.pk, serial_numbers=list(serials), actor=UserFactory()
        )


def refresh(client, text, moment):
    with at(moment):
        return client.post(REFRESH, data=text, content_type="text/plain")


def signed(fields: dict[str, str], private=None) -> str:
    """A key of any format, its fields signed as the format says (a device's view)."""
    private = private or license_keys.signing_key()
    message = "KEYSHIP LICENSE KEY\n" + "".join(f"{n}: {v}\n" for n, v in fields.items())
    signature = base64.b64encode(private.sign(message.encode())).decode()
    body = "".join(f"{n}: {v}\n" for n, v in fields.items())
    return f"{license_keys.BEGIN}\n{body}Signature: {signature}\n{license_keys.END}\n"


def verify_command(tmp_path, *keys, revocations=None, moment):
    """verify_license_key on these keys: (stdout, stderr, the CommandError or None)."""
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(keys))
    options = {}
    if revocations is not None:
        (tmp_path / "revocations.json").write_text(revocations)
        options["revocations"] = str(tmp_path / "revocations.json")
    out, err, error = io.StringIO(), io.StringIO(), None
    with at(moment):
        try:
            call_command("verify_license_key", str(path), stdout=out, stderr=err, **options)
        except CommandError as raised:
            error = raised
    return out.getvalue(), err.getvalue(), error


# --- Format 3 ------------------------------------------------------------------------------


def test_a_new_key_is_format_3_and_expires_after_the_refresh_days(entitlement, settings):
    settings.LICENSE_KEY_REFRESH_DAYS = 30

    (activation,) = activate(entitlement, "FTX1")

    key = license_key_verify(activation.license_key)
    assert key.format == "3"
    assert key.expires_at == ACTIVATED + datetime.timedelta(days=30)
    assert "Issued: 2027-01-10T09:00:00Z\nExpires: 2027-02-09T09:00:00Z\n" in (
        activation.license_key
    )
    assert (key.term_ends_on, key.works_until) == (TERM_END, GRACE_END)
    assert not key.stale(ACTIVATED + datetime.timedelta(days=29))
    assert key.stale(ACTIVATED + datetime.timedelta(days=30))
    # Expires is signed like every other field.
    with pytest.raises(LicenseKeyInvalid, match="does not match"):
        license_key_verify(activation.license_key.replace("Expires: 2027-02", "Expires: 2028-02"))


def test_expires_is_never_after_the_end_of_works_until(settings):
    settings.LICENSE_KEY_REFRESH_DAYS = 30
    issued = datetime.datetime(2027, 12, 20, 12, 0, tzinfo=UTC)

    text = license_key_sign(
        ssrn="7QK2-M9XD-41HC",
        sku="TD-1Y",
        serial="FTX1",
        seats=1,
        term_ends_on=TERM_END,
        works_until=GRACE_END,
        issued_at=issued,
    )

    assert license_key_verify(text).expires_at == datetime.datetime(2028, 1, 1, tzinfo=UTC)


def test_format_2_and_format_1_keys_still_verify_and_have_no_expires():
    common = {
        "Key-Id": license_keys.key_id(license_keys.signing_key().public_key()),
        "SSRN": "7QK2-M9XD-41HC",
        "SKU": "KS-FW-ADV-1Y",
        "Serial": "FTX2231A0BC",
        "Seats": "1",
        "Term-Ends": "2027-12-31",
    }
    two = signed(
        {"Format": "2", **common, "Works-Until": "2028-01-30", "Issued": "2026-11-28T09:15:00Z"}
    )
    one = signed({"Format": "1", **common, "Issued": "2026-11-28T09:15:00Z"})

    for text, works_until in ((two, D(2028, 1, 30)), (one, D(2027, 12, 31))):
        key = license_key_verify(text)
        assert (key.works_until, key.expires_at) == (works_until, None)
        assert not key.stale(datetime.datetime(2040, 1, 1, tzinfo=UTC))
    # A format 3 key may not drop its Expires line.
    with pytest.raises(LicenseKeyInvalid, match="has the fields"):
        license_key_verify(two.replace("Format: 2", "Format: 3"))


# --- Refresh -------------------------------------------------------------------------------


def test_a_device_refreshes_its_key_with_the_key_it_holds(client, entitlement, settings):
    settings.LICENSE_KEY_REFRESH_DAYS = 7
    (activation,) = activate(entitlement, "FTX1")
    old = activation.license_key
    later = ACTIVATED + datetime.timedelta(days=5)

    response = refresh(client, old, later)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    new = response.content.decode()
    key = license_key_verify(new)
    assert (key.format, key.serial, key.ssrn) == ("3", "FTX1", entitlement.ssrn)
    assert (key.term_ends_on, key.works_until) == (TERM_END, GRACE_END)
    assert (key.issued_at, key.expires_at) == (later, later + datetime.timedelta(days=7))
    activation.refresh_from_db()
    assert activation.license_key == new and activation.last_refreshed_at == later
    (replaced,) = activation.superseded_keys.all()
    assert (replaced.license_key, replaced.renewal, replaced.superseded_at) == (old, None, later)
    # A refresh is not a renewal's re-issue: the portal does not say the keys were re-issued.
    assert license_keys_reissued(entitlement=entitlement) is None
    # The key it replaced still buys a key (the device may have missed the answer), and so
    # does a key already past its Expires (the device was offline): it is genuine and on
    # record, and the activation is live.
    assert refresh(client, old, later).status_code == 200
    stale = refresh(client, new, later + datetime.timedelta(days=20))
    assert stale.status_code == 200
    assert license_key_verify(stale.content.decode()).expires_at > later + datetime.timedelta(
        days=20
    )


def test_a_key_in_transit_keeps_working_whatever_its_line_endings(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    crlf = "  " + activation.license_key.replace("\n", "\r\n")

    assert refresh(client, crlf, ACTIVATED).status_code == 200


def test_a_revoked_activations_key_is_refused_with_410_and_no_key(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[activation.pk], actor=UserFactory(), reason="sold")

    response = refresh(client, activation.license_key, ACTIVATED)

    assert response.status_code == 410
    assert response.json()["status"] == "revoked"
    assert "BEGIN KEYSHIP" not in response.content.decode()
    assert not SupersededLicenseKey.objects.exists()


def test_a_rehosted_serial_activated_again_does_not_revive_the_old_key(client, entitlement):
    (first,) = activate(entitlement, "FTX1")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[first.pk], actor=UserFactory(), reason="rehost")
    (again,) = activate(entitlement, "FTX1", moment=ACTIVATED + datetime.timedelta(hours=1))

    assert refresh(client, first.license_key, ACTIVATED).status_code == 410
    assert refresh(client, again.license_key, ACTIVATED).status_code == 200


def test_a_revoked_entitlements_keys_are_refused_with_410(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    with at(ACTIVATED):
        entitlement_revoke(entitlement_id=entitlement.pk, reason="fraud", actor=Job("test"))

    response = refresh(client, activation.license_key, ACTIVATED)

    assert (response.status_code, response.json()["status"]) == (410, "revoked")


def test_a_suspended_entitlement_refuses_the_refresh_and_hands_out_no_key(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    with at(ACTIVATED):
        entitlement_suspend(entitlement_id=entitlement.pk, reason="unpaid", actor=Job("test"))

    response = refresh(client, activation.license_key, ACTIVATED)

    assert response.status_code == 403
    assert response.json()["status"] == "suspended"
    assert "suspended" in response.json()["message"]
    assert "BEGIN KEYSHIP" not in response.content.decode()
    before = activation.license_key
    activation.refresh_from_db()
    assert activation.license_key == before and activation.last_refreshed_at is None


def test_an_expired_subscription_refuses_the_refresh(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")

    after_grace = datetime.datetime(2028, 1, 1, 9, tzinfo=UTC)
    response = refresh(client, activation.license_key, after_grace)

    assert (response.status_code, response.json()["status"]) == (403, "expired")
    # In grace it still refreshes, with an Expires no later than the end of the grace.
    in_grace = datetime.datetime(2027, 12, 20, 9, tzinfo=UTC)
    response = refresh(client, activation.license_key, in_grace)
    assert response.status_code == 200
    key = license_key_read(response.content.decode())
    assert key.expires_at == datetime.datetime(2028, 1, 1, tzinfo=UTC)


def _stranger_private():
    return Ed25519PrivateKey.generate()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda key: key.replace("Seats: 1", "Seats: 9"), id="tampered"),
        pytest.param(
            lambda key: key.replace("Expires: 2027-02-09", "Expires: 2099-02-09"),
            id="expires pushed out",
        ),
        pytest.param(lambda key: key.replace("Key-Id: ", "Key-Id: 00"), id="unknown key id"),
        pytest.param(lambda key: key[: len(key) // 2], id="cut short"),
        pytest.param(lambda key: "not a key at all", id="not a key"),
        pytest.param(
            # Signed by a stranger's Ed25519 key, naming our key id.
            lambda key: signed(
                {
                    name: value
                    for name, value in (
                        line.split(": ", 1) for line in key.strip().splitlines()[1:-2]
                    )
                },
                _stranger_private(),
            ),
            id="stranger's signature",
        ),
    ],
)
def test_a_key_that_does_not_verify_is_refused_with_400_and_no_detail(client, entitlement, forge):
    (activation,) = activate(entitlement, "FTX1")

    response = refresh(client, forge(activation.license_key), ACTIVATED)

    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid",
        "message": "This is not a license key that Keyship issued to this device, or it was "
        "changed.",
    }
    assert not SupersededLicenseKey.objects.exists()


def test_a_key_signed_by_a_strangers_own_key_is_refused(client, entitlement, settings):
    activate(entitlement, "FTX1")
    settings.LICENSE_SIGNING_KEY = base64.b64encode(
        _stranger_private().private_bytes_raw()
    ).decode()
    foreign = license_key_sign(
        ssrn=entitlement.ssrn,
        sku="TD-1Y",
        serial="FTX1",
        seats=1,
        term_ends_on=TERM_END,
        works_until=GRACE_END,
        issued_at=ACTIVATED,
    )
    settings.LICENSE_SIGNING_KEY = base64.b64encode(b"keyship-test-license-signing-key").decode()

    assert refresh(client, foreign, ACTIVATED).json()["status"] == "invalid"


def test_a_genuine_key_that_is_not_the_devices_key_on_record_is_refused(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    # Genuinely signed for this SSRN and serial, but never issued to the activation (a leaked
    # signing key, another deployment): the records hold another key.
    other = license_key_sign(
        ssrn=entitlement.ssrn,
        sku="TD-1Y",
        serial="FTX1",
        seats=3,
        term_ends_on=TERM_END,
        works_until=GRACE_END,
        issued_at=ACTIVATED,
    )
    for_another_serial = activation.license_key  # FTX1's key, sent for nothing else
    Activation.objects.filter(pk=activation.pk).update(serial_number="FTX2")

    assert refresh(client, other, ACTIVATED).status_code == 400
    assert refresh(client, for_another_serial, ACTIVATED).status_code == 400
    activation.refresh_from_db()
    assert activation.last_refreshed_at is None


def test_refreshes_are_rate_limited_per_device_and_per_client(client, entitlement, settings):
    settings.LICENSE_KEY_REFRESH_RATE = "2/h"
    first, second = activate(entitlement, "FTX1", "FTX2")

    answers = [refresh(client, first.license_key, ACTIVATED).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    limited = refresh(client, first.license_key, ACTIVATED)
    assert limited.json()["status"] == "rate_limited" and int(limited["Retry-After"]) > 0
    # Another device behind the same address is not held back by this one.
    assert refresh(client, second.license_key, ACTIVATED).status_code == 200
    settings.LICENSE_KEY_REFRESH_CLIENT_RATE = "1/m"
    with at(ACTIVATED + datetime.timedelta(hours=2)):
        answers = [
            client.post(REFRESH, data=second.license_key, content_type="text/plain").status_code
            for _ in range(2)
        ]
    assert answers[-1] == 429


def test_a_body_that_cannot_be_a_key_is_refused(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")

    huge = client.post(REFRESH, data="x" * 100_000, content_type="text/plain")
    binary = client.post(REFRESH, data=b"\xff\xfe" * 10, content_type="text/plain")
    get = client.get(REFRESH)

    assert (huge.status_code, binary.status_code, get.status_code) == (413, 400, 405)


def test_the_key_never_reaches_a_log(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    (gone,) = activate(entitlement, "FTX9")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[gone.pk], actor=UserFactory(), reason="sold")
    records = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        ok = refresh(client, activation.license_key, ACTIVATED)
        refresh(client, activation.license_key.replace("Seats: 1", "Seats: 2"), ACTIVATED)
        refresh(client, gone.license_key, ACTIVATED)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    assert ok.status_code == 200
    logged = "\n".join(
        record.getMessage() + str(getattr(record, "request", "")) for record in records
    )
    assert any("/license-keys/refresh/" in r.getMessage() for r in records)  # 4xx are logged
    for secret in (activation.license_key, ok.content.decode(), gone.license_key):
        assert license_key_read(secret).signature not in logged
        assert "BEGIN KEYSHIP" not in logged


# --- The revocation list -------------------------------------------------------------------


def test_the_revocation_list_names_every_key_of_a_revoked_activation_and_is_signed(
    client, entitlement, settings
):
    settings.LICENSE_KEY_REVOCATIONS_MAX_AGE = 300
    gone, live = activate(entitlement, "FTX1", "FTX2")
    replaced = gone.license_key
    gone_now = refresh(client, replaced, ACTIVATED + datetime.timedelta(days=1)).content.decode()
    with at(ACTIVATED + datetime.timedelta(days=2)):
        activations_revoke(activation_ids=[gone.pk], actor=UserFactory(), reason="rehost")
        response = client.get(reverse("license-key-revocations"))
        jwks = client.get(reverse("license-public-keys")).json()

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    document = response.json()
    assert (document["format"], document["issued"], document["next_update"]) == (
        1,
        "2027-01-12T09:00:00Z",
        "2027-01-12T09:05:00Z",
    )
    # A device verifies it with the published key, over the canonical JSON without signature.
    (jwk,) = jwks["keys"]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    unsigned = {name: value for name, value in document.items() if name != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    public.verify(
        base64.b64decode(document["signature"]),
        b"KEYSHIP LICENSE KEY REVOCATIONS\n" + canonical,
    )
    assert document["key_id"] == jwk["kid"]
    listed = {entry["fingerprint"]: entry["revoked_at"] for entry in document["revoked"]}
    fingerprints = {
        name: license_key_read(text).fingerprint
        for name, text in [
            ("replaced", replaced),
            ("current", gone_now),
            ("live", live.license_key),
        ]
    }
    assert listed == {
        fingerprints["replaced"]: "2027-01-12T09:00:00Z",
        fingerprints["current"]: "2027-01-12T09:00:00Z",
    }
    # The fingerprint is the SHA-256 of the signed bytes, as a device computes it.
    assert len(fingerprints["live"]) == 64 and fingerprints["live"] not in listed


def test_the_list_is_reused_until_its_next_update(client, entitlement, settings):
    settings.LICENSE_KEY_REVOCATIONS_MAX_AGE = 300
    first, second = activate(entitlement, "FTX1", "FTX2")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[first.pk], actor=UserFactory(), reason="rehost")
        before = client.get(reverse("license-key-revocations")).json()
        activations_revoke(activation_ids=[second.pk], actor=UserFactory(), reason="rehost")
    with at(ACTIVATED + datetime.timedelta(seconds=100)):
        cached = client.get(reverse("license-key-revocations"))
    assert cached.json() == before and cached["Cache-Control"] == "public, max-age=200"
    from django.core.cache import cache

    cache.clear()  # as once LICENSE_KEY_REVOCATIONS_MAX_AGE has passed
    with at(ACTIVATED + datetime.timedelta(seconds=301)):
        after = client.get(reverse("license-key-revocations")).json()
    assert len(after["revoked"]) == 2


def test_building_the_list_is_one_query_however_many_keys(entitlement, django_assert_num_queries):
    activations = activate(entitlement, "FTX1", "FTX2", "FTX3")
    with at(ACTIVATED):
        activations_revoke(
            activation_ids=[a.pk for a in activations], actor=UserFactory(), reason="returned"
        )

    with django_assert_num_queries(1):
        document = revocation_list_build()

    assert len(document["revoked"]) == 3


def test_verify_license_key_reports_a_key_the_list_names_as_revoked(tmp_path, entitlement):
    gone, live = activate(entitlement, "FTX1", "FTX2")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[gone.pk], actor=UserFactory(), reason="rehost")
        listing = json.dumps(revocation_list_build())
    # Records that do not know of the revoke (another site's copy): the list alone tells.
    Activation.objects.filter(pk=gone.pk).update(revoked_at=None)
    check = license_key_check(
        text=gone.license_key,
        today=ACTIVATED.date(),
        now=ACTIVATED,
        revocations=revocation_list_verify(listing),
    )
    assert (check.verdict, check.revoked_on) == (KeyVerdict.REVOKED, ACTIVATED.date())

    out, err, error = verify_command(
        tmp_path, live.license_key, gone.license_key, revocations=listing, moment=ACTIVATED
    )

    assert "key 1: valid: current:" in out
    assert "key 2: REVOKED on 2027-01-10" in err
    assert "1 of 2 key(s) are not current: 1 revoked." in str(error) and error.returncode == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d: {**d, "revoked": []}, id="an entry dropped"),
        pytest.param(lambda d: {**d, "next_update": "2099-01-01T00:00:00Z"}, id="kept fresh"),
        pytest.param(lambda d: {**d, "format": 2}, id="unknown format"),
        pytest.param(lambda d: {**d, "key_id": "0" * 16}, id="unknown signing key"),
        pytest.param(lambda d: {**d, "signature": "not base64!"}, id="signature garbled"),
    ],
)
def test_a_tampered_revocation_list_is_rejected_and_no_key_checked(tmp_path, entitlement, tamper):
    gone, _live = activate(entitlement, "FTX1", "FTX2")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[gone.pk], actor=UserFactory(), reason="rehost")
        document = revocation_list_build()

    out, err, error = verify_command(
        tmp_path, gone.license_key, revocations=json.dumps(tamper(document)), moment=ACTIVATED
    )

    assert error is not None and error.returncode == 3
    assert (
        "do not trust it" in str(error).lower() or "no published signing key" in str(error).lower()
    )
    assert "key 1" not in out + err


def test_a_list_signed_by_a_stranger_is_rejected(tmp_path, entitlement, settings):
    activate(entitlement, "FTX1")
    settings.LICENSE_SIGNING_KEY = base64.b64encode(
        _stranger_private().private_bytes_raw()
    ).decode()
    with at(ACTIVATED):
        foreign = json.dumps(revocation_list_build())
    settings.LICENSE_SIGNING_KEY = base64.b64encode(b"keyship-test-license-signing-key").decode()

    with pytest.raises(ValueError, match="No published signing key"):
        revocation_list_verify(foreign)


def test_a_key_past_its_expires_is_reported_stale_refresh_it(tmp_path, entitlement, settings):
    settings.LICENSE_KEY_REFRESH_DAYS = 30
    (activation,) = activate(entitlement, "FTX1")

    out, err, error = verify_command(
        tmp_path, activation.license_key, moment=ACTIVATED + datetime.timedelta(days=31)
    )

    assert "key 1: STALE: expired 2027-02-09 09:00 UTC, refresh it" in err
    assert "/license-keys/refresh/" in err
    assert "1 stale" in str(error) and error.returncode == 1
    # Within its days it is current.
    out, _err, error = verify_command(
        tmp_path, activation.license_key, moment=ACTIVATED + datetime.timedelta(days=29)
    )
    assert error is None and "valid: current:" in out and "expires 2027-02-09 09:00 UTC" in out


def test_a_refusal_speaks_the_devices_language(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    # The middleware switches this thread's language for the request: put it back after.
    with at(ACTIVATED), translation.override("en"):
        entitlement_suspend(entitlement_id=entitlement.pk, reason="unpaid", actor=Job("test"))
        response = client.post(
            REFRESH,
            data=activation.license_key,
            content_type="text/plain",
            headers={"accept-language": "de"},
        )

    assert response.json()["status"] == "suspended"
    assert "Die Berechtigung ist gesperrt" in response.json()["message"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_during_a_revoke_waits_for_it_and_gets_no_key(entitlement):
    # Given a device whose activation is being revoked (the revoke holds the entitlement's
    # lock, not yet committed) when the device asks for a fresh key
    from django.db import connection, transaction

    from apps.entitlements.key_refresh import RefreshStatus, license_key_refresh

    (activation,) = activate(entitlement, "FTX1")
    revoking, may_commit, outcome = threading.Event(), threading.Event(), {}

    def revoke():
        try:
            with transaction.atomic():
                activations_revoke(
                    activation_ids=[activation.pk], actor=UserFactory(), reason="rehost"
                )
                revoking.set()
                may_commit.wait(timeout=30)
        finally:
            connection.close()

    def device():
        try:
            outcome["refresh"] = license_key_refresh(text=activation.license_key)
        finally:
            connection.close()

    revoker = threading.Thread(target=revoke)
    revoker.start()
    assert revoking.wait(timeout=30)
    asker = threading.Thread(target=device)
    asker.start()
    asker.join(timeout=2)
    assert asker.is_alive()  # it waits on the revoke's lock
    may_commit.set()
    revoker.join(timeout=30)
    asker.join(timeout=30)

    # Then it is refused as revoked, and the revoked activation got no new key
    assert outcome["refresh"].status == RefreshStatus.REVOKED
    assert outcome["refresh"].license_key == ""
    activation.refresh_from_db()
    assert activation.last_refreshed_at is None and not activation.superseded_keys.exists()
