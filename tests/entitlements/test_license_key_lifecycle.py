"""A device's license key follows its subscription: it works through the grace period of an
initial subscription, a renewal re-issues it with the new dates, and verification tells a
current key from an outdated, an expired and a forged one."""

import base64
import datetime
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements import license_keys
from apps.entitlements.activations import activations_create, activations_revoke
from apps.entitlements.license_keys import KeyState, license_key_sign, license_key_verify
from apps.entitlements.models import Activation, Entitlement, SupersededLicenseKey, TermKind
from apps.fulfillment.services import order_lines_fulfil_due
from tests.factories.accounts import AccountAssociationFactory, ContactFactory, UserFactory
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines
from tests.fulfillment.test_renewals import end_customer_of, renewal_order

pytestmark = pytest.mark.django_db(transaction=True)

D = datetime.date
SHIPPED = D(2026, 12, 1)  # term end 1 December 2027, grace end 31 December 2027
TERM_END, GRACE_END = D(2027, 12, 1), D(2027, 12, 31)
RENEWED_END = D(2028, 12, 1)


@pytest.fixture(autouse=True)
def _keys_live_to_their_works_until(settings):
    # This module follows keys through their dates over years; their Expires and refresh are
    # tested in test_key_refresh.py. A century of refresh days caps Expires at Works-Until.
    settings.LICENSE_KEY_REFRESH_DAYS = 36500


def at(day):
    return time_machine.travel(
        datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC), tick=False
    )


@pytest.fixture
def subscription():
    """An initial one-year subscription for two devices, shipped on 1 December 2026."""
    product = ProductFactory(sku="TD-1Y", name="Threat Defense", subscription=True)
    renewal = ProductFactory(
        sku="TD-REN", name="Threat Defense Renewal", subscription=True, renews=product
    )
    with at(SHIPPED):
        order_with_lines(dates=[SHIPPED], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    return Entitlement.objects.get(), renewal


def activate(entitlement, *serials, day):
    with at(day):
        return activations_create(
            entitlement_id=entitlement.pk, serial_numbers=list(serials), actor=UserFactory()
        )


def status_on(entitlement, day):
    return Entitlement.objects.with_status(day).get(pk=entitlement.pk).status


def verify(tmp_path, *keys, day):
    """Run verify_license_key on these keys on `day`: (stdout, stderr, error or None)."""
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(keys))
    out, err, error = io.StringIO(), io.StringIO(), None
    with at(day):
        try:
            call_command("verify_license_key", str(path), stdout=out, stderr=err)
        except CommandError as raised:
            error = str(raised)
    return out.getvalue(), err.getvalue(), error


RENEWAL_SHIPS = D(2027, 11, 1)


def ship_renewal(entitlement, renewal, day=RENEWAL_SHIPS):
    renewal_order(renewal, entitlement.ssrn, day)
    with at(day):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement.refresh_from_db()


# --- What a key carries, and which formats verify ---------------------------------------


def test_an_initial_subscriptions_key_works_through_its_grace_period(subscription):
    entitlement, _renewal = subscription

    (activation,) = activate(entitlement, "FTX1", day=D(2027, 1, 10))

    key = license_key_verify(activation.license_key)
    assert (key.format, key.term_ends_on, key.works_until) == ("3", TERM_END, GRACE_END)
    assert "Works-Until: 2027-12-31" in activation.license_key


def test_a_format_1_key_still_verifies_and_stops_at_its_term_end():
    fields = {
        "Format": "1",
        "Key-Id": license_keys.key_id(license_keys.signing_key().public_key()),
        "SSRN": "7QK2-M9XD-41HC",
        "SKU": "KS-FW-ADV-1Y",
        "Serial": "FTX2231A0BC",
        "Seats": "1",
        "Term-Ends": "2027-12-31",
        "Issued": "2026-11-28T09:15:00Z",
    }
    signed = "KEYSHIP LICENSE KEY\n" + "".join(f"{n}: {v}\n" for n, v in fields.items())
    signature = base64.b64encode(license_keys.signing_key().sign(signed.encode())).decode()
    body = "".join(f"{n}: {v}\n" for n, v in fields.items())
    text = f"{license_keys.BEGIN}\n{body}Signature: {signature}\n{license_keys.END}\n"

    key = license_key_verify(text)

    assert (key.format, key.term_ends_on, key.works_until) == (
        "1",
        D(2027, 12, 31),
        D(2027, 12, 31),
    )
    assert key.state(D(2028, 1, 1)) == KeyState.EXPIRED
    # A format 2 key may not drop its Works-Until line, nor a format 1 key gain one.
    with pytest.raises(license_keys.LicenseKeyInvalid, match="has the fields"):
        license_key_verify(text.replace("Format: 1", "Format: 2"))


def test_a_key_whose_device_stops_before_its_term_end_cannot_be_signed():
    with pytest.raises(ValueError, match="works_until"):
        license_key_sign(
            ssrn="7QK2-M9XD-41HC",
            sku="KS",
            serial="FTX1",
            seats=1,
            term_ends_on=D(2027, 12, 31),
            works_until=D(2027, 12, 1),
            issued_at=datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC),
        )


# --- Keys and verify agree with the entitlement's status --------------------------------


@pytest.mark.parametrize(
    ("case", "day", "status", "verdict"),
    [
        ("initial in term", D(2027, 6, 1), "active", "valid: current:"),
        ("initial on its term end", TERM_END, "active", "valid: current:"),
        ("initial in grace", D(2027, 12, 2), "grace", "valid: current, in its grace period"),
        ("initial on its grace end", GRACE_END, "grace", "valid: current, in its grace period"),
        ("initial expired", D(2028, 1, 1), "expired", "EXPIRED"),
        ("renewal in term", D(2028, 6, 1), "active", "valid: current:"),
        ("renewal after its term end", D(2028, 12, 2), "expired", "EXPIRED"),
    ],
)
def test_a_key_and_its_verification_agree_with_the_entitlements_status(
    tmp_path, subscription, case, day, status, verdict
):
    entitlement, renewal = subscription
    (activation,) = activate(entitlement, "FTX1", day=D(2027, 1, 10))
    if case.startswith("renewal"):
        ship_renewal(entitlement, renewal)
        activation.refresh_from_db()

    key = license_key_verify(activation.license_key)
    out, err, error = verify(tmp_path, activation.license_key, day=day)

    assert status_on(entitlement, day) == status
    assert key.state(day) == status
    assert verdict in out + err
    assert (error is None) == (status != "expired")
    if case.startswith("renewal"):  # a renewal has no grace: the device stops at the term end
        assert (key.term_ends_on, key.works_until) == (RENEWED_END, RENEWED_END)


def test_a_key_activated_in_grace_works_until_the_grace_end(tmp_path, subscription):
    entitlement, _renewal = subscription

    (activation,) = activate(entitlement, "FTX1", day=D(2027, 12, 10))

    assert status_on(entitlement, D(2027, 12, 10)) == "grace"
    assert license_key_verify(activation.license_key).works_until == GRACE_END
    out, _err, error = verify(tmp_path, activation.license_key, day=D(2027, 12, 10))
    assert error is None and "in its grace period" in out and "works until 2027-12-31" in out


def test_a_perpetual_key_is_always_current(tmp_path):
    product = ProductFactory(sku="FW-PERP", name="Firewall")
    with at(SHIPPED):
        order_with_lines(dates=[SHIPPED], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get()
    (activation,) = activate(entitlement, "FTX1", day=D(2027, 1, 10))

    key = license_key_verify(activation.license_key)
    out, _err, error = verify(tmp_path, activation.license_key, day=D(2040, 1, 1))

    assert (key.term_ends_on, key.works_until) == (None, None)
    assert "Term-Ends: perpetual\nWorks-Until: perpetual\n" in activation.license_key
    assert status_on(entitlement, D(2040, 1, 1)) == "active" == key.state(D(2040, 1, 1))
    assert error is None and "valid: current:" in out


# --- A renewal re-issues the keys of every live activation ------------------------------


def test_a_renewal_reissues_every_live_activations_key_and_keeps_the_old_ones(subscription):
    entitlement, renewal = subscription
    first, gone = activate(entitlement, "FTX1", "FTX3", day=D(2027, 1, 10))
    with at(D(2027, 2, 1)):
        activations_revoke(activation_ids=[gone.pk], actor=UserFactory(), reason="returned")
    (second,) = activate(entitlement, "FTX2", day=D(2027, 2, 2))
    old_keys = {a.serial_number: a.license_key for a in (first, second, gone)}

    ship_renewal(entitlement, renewal)

    term = entitlement.terms.get(kind=TermKind.RENEWAL)
    for activation in (first, second):
        activation.refresh_from_db()
        key = license_key_verify(activation.license_key)
        assert (key.serial, key.term_ends_on, key.works_until) == (
            activation.serial_number,
            RENEWED_END,
            RENEWED_END,
        )
        (superseded,) = activation.superseded_keys.all()
        assert superseded.license_key == old_keys[activation.serial_number]
        assert superseded.renewal == term
    gone.refresh_from_db()
    assert gone.license_key == old_keys["FTX3"] and not gone.superseded_keys.exists()
    # The same serial again gets the new key, and takes no new seat.
    (again,) = activate(entitlement, "FTX1", day=D(2027, 11, 2))
    assert again.license_key == first.license_key
    assert Activation.objects.filter(revoked_at__isnull=True).count() == 2
    event = AuditEvent.objects.get(action="activation.keys_reissued")
    assert event.target_id == str(entitlement.pk)
    assert event.data["serial_numbers"] == ["FTX1", "FTX2"]
    assert "BEGIN KEYSHIP" not in str(event.data) + event.message


def test_a_device_activated_after_the_renewal_gets_the_renewed_dates(subscription):
    entitlement, renewal = subscription
    ship_renewal(entitlement, renewal)

    (activation,) = activate(entitlement, "FTX9", day=D(2027, 12, 15))

    key = license_key_verify(activation.license_key)
    assert (key.term_ends_on, key.works_until) == (RENEWED_END, RENEWED_END)
    assert not SupersededLicenseKey.objects.exists()


def test_the_renewal_email_says_fresh_keys_are_in_the_portal_and_carries_none(smtp, subscription):
    entitlement, renewal = subscription
    activate(entitlement, "FTX1", "FTX2", day=D(2027, 1, 10))
    smtp.messages.clear()

    ship_renewal(entitlement, renewal)

    message = smtp.to("renewals@northwind.example")[0]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Fresh license keys for your 2 activated devices, valid until Dec. 1, 2028" in body
        assert "they replace the earlier keys" in body
        assert "BEGIN KEYSHIP" not in body
        assert entitlement.activation_code not in body
    assert all(
        "license-keys" not in (part.get_filename() or "") for part in message.iter_attachments()
    )


def test_the_portal_offers_the_new_keys_and_says_they_replace_the_old(client, subscription):
    entitlement, renewal = subscription
    first, second = activate(entitlement, "FTX1", "FTX2", day=D(2027, 1, 10))
    contact = ContactFactory()
    AccountAssociationFactory(contact=contact, account=end_customer_of(entitlement.ssrn))
    ship_renewal(entitlement, renewal)

    with at(D(2027, 11, 2)):
        client.force_login(contact.user)
        page = client.get(reverse("portal:entitlement", args=[entitlement.ssrn]))
        download = client.get(reverse("portal:keys", args=[entitlement.ssrn]))

    assert (page.status_code, download.status_code) == (200, 200), page
    content = page.content.decode()
    assert "re-issued the license keys of your devices: they now work until Dec. 1, 2028" in content
    assert "they replace the keys issued before" in content
    assert content.count("Dec. 1, 2028") >= 3  # term end and each device's key
    keys = download.content.decode()
    assert keys.count("Works-Until: 2028-12-01") == 2
    assert first.license_key not in keys and second.license_key not in keys


# --- verify_license_key tells current, outdated, expired and forged keys apart ----------


def test_verify_tells_an_outdated_key_from_a_forged_one(tmp_path, subscription):
    entitlement, renewal = subscription
    (old,) = activate(entitlement, "FTX1", day=D(2027, 1, 10))
    ship_renewal(entitlement, renewal)
    current = Activation.objects.get(pk=old.pk).license_key
    forged = current.replace("Seats: 1", "Seats: 9")
    unknown_signer = current.replace("Key-Id: ", "Key-Id: 00")

    out, err, error = verify(
        tmp_path, current, old.license_key, forged, unknown_signer, day=D(2027, 11, 2)
    )

    assert "key 1: valid: current:" in out and "works until 2028-12-01" in out
    url = f"/entitlements/{entitlement.ssrn}/"
    assert "key 2: OUTDATED: genuine, but replaced by a newer key for serial FTX1" in err
    assert "(term ends 2028-12-01, works until 2028-12-01)" in err and url in err
    assert "key 3: INVALID: The signature does not match" in err
    assert "key 4: INVALID: No published signing key" in err
    assert error == "3 of 4 key(s) are not current: 1 outdated, 2 invalid."


def test_verify_says_a_revoked_devices_key_is_revoked(tmp_path, subscription):
    entitlement, _renewal = subscription
    (activation,) = activate(entitlement, "FTX1", day=D(2027, 1, 10))
    with at(D(2027, 2, 1)):
        activations_revoke(activation_ids=[activation.pk], actor=UserFactory(), reason="sold")

    _out, err, error = verify(tmp_path, activation.license_key, day=D(2027, 2, 2))

    assert "key 1: REVOKED on 2027-02-01" in err and "1 revoked" in error


def test_a_revoked_devices_old_key_stays_revoked_after_the_serial_is_activated_again(
    tmp_path, subscription
):
    entitlement, _renewal = subscription
    (stolen,) = activate(entitlement, "FTX1", day=D(2027, 1, 10))
    with at(D(2027, 2, 1)):
        activations_revoke(activation_ids=[stolen.pk], actor=UserFactory(), reason="stolen")
    (again,) = activate(entitlement, "FTX1", day=D(2027, 2, 2))

    out, err, error = verify(tmp_path, stolen.license_key, again.license_key, day=D(2027, 2, 3))

    assert "key 1: REVOKED on 2027-02-01" in err and "OUTDATED" not in err
    assert "key 2: valid: current:" in out
    assert error == "1 of 2 key(s) are not current: 1 revoked."


def test_a_renewal_sweep_stopped_after_the_reissue_reissues_once_when_run_again(
    monkeypatch, subscription
):
    from celery.exceptions import SoftTimeLimitExceeded

    from apps.entitlements import services

    entitlement, renewal = subscription
    first, second = activate(entitlement, "FTX1", "FTX2", day=D(2027, 1, 10))
    reissue = services.activation_keys_reissue

    def reissue_then_stop(**kwargs):
        reissue(**kwargs)
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "activation_keys_reissue", reissue_then_stop)
    with pytest.raises(SoftTimeLimitExceeded):
        ship_renewal(entitlement, renewal)
    assert not SupersededLicenseKey.objects.exists()  # the sweep's transaction rolled back
    monkeypatch.setattr(services, "activation_keys_reissue", reissue)

    with at(RENEWAL_SHIPS):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    for activation in (first, second):
        (superseded,) = activation.superseded_keys.all()
        assert superseded.license_key == activation.license_key
        activation.refresh_from_db()
        assert license_key_verify(activation.license_key).works_until == RENEWED_END
    assert AuditEvent.objects.filter(action="activation.keys_reissued").count() == 1
