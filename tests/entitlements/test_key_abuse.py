"""License keys as an attacker and an operator handle them: doctored key texts, who sees a
key in the admin, replays after a rehost."""

import datetime
import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.entitlements.activations import activations_revoke
from apps.entitlements.key_checks import KeyVerdict, license_key_check
from apps.entitlements.license_keys import license_key_read
from apps.entitlements.models import SupersededLicenseKey
from apps.entitlements.rehosts import activation_rehost
from apps.entitlements.revocations import (
    RevocationListInvalid,
    revocation_list_build,
    revocation_list_verify,
)
from tests.entitlements.test_key_refresh import (
    ACTIVATED,
    GRACE_END,
    TERM_END,
    activate,
    at,
    refresh,
)
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import EntitlementFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entitlement():
    """An initial one-year subscription for three devices."""
    return EntitlementFactory(
        order_line__product=ProductFactory(sku="TD-1Y", subscription=True),
        order_line__quantity=3,
        starts_on=datetime.date(2026, 12, 1),
        term_ends_on=TERM_END,
        grace_ends_on=GRACE_END,
    )


def _with_line(key: str, line: str, *, before: str) -> str:
    lines = key.splitlines()
    at_line = next(n for n, text in enumerate(lines) if text.startswith(before))
    return "\n".join([*lines[:at_line], line, *lines[at_line:]]) + "\n"


@pytest.mark.parametrize(
    ("first", "before"),
    [
        # A reader that takes the first Serial sees another device; the signature covers
        # the second.
        ("Serial: SOMEONE-ELSE", "Serial:"),
        # A reader that takes the first Expires trusts the key for 70 years.
        ("Expires: 2099-01-01T00:00:00Z", "Expires:"),
        # The same value twice: still not the text that was signed.
        ("Seats: 1", "Signature:"),
    ],
)
def test_a_key_with_a_field_written_twice_is_not_a_key(client, entitlement, first, before):
    (activation,) = activate(entitlement, "FTX1")
    doctored = _with_line(activation.license_key, first, before=before)

    response = refresh(client, doctored, ACTIVATED)
    with at(ACTIVATED):
        check = license_key_check(text=doctored, today=ACTIVATED.date())

    assert response.status_code == 400
    assert response.json()["status"] == "invalid"
    assert check.verdict == KeyVerdict.INVALID
    assert "repeats the field" in check.problem
    assert not SupersededLicenseKey.objects.exists()


def test_every_key_a_rehosted_device_held_is_refused_and_named_revoked(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    refreshed = refresh(client, activation.license_key, ACTIVATED).content.decode()
    later = ACTIVATED + datetime.timedelta(hours=1)
    with at(later):
        activation_rehost(
            activation_id=activation.pk,
            new_serial_number="FTX2",
            reason="Board failed",
            actor=UserFactory(),
        )

    for key in (activation.license_key, refreshed):
        response = refresh(client, key, later)
        with at(later):
            check = license_key_check(text=key, today=later.date())
        assert response.status_code == 410
        assert check.verdict == KeyVerdict.REVOKED


def _staff(role):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def test_operations_sees_a_devices_keys_by_fingerprint_only(client, entitlement):
    (activation,) = activate(entitlement, "FTX1")
    old = activation.license_key
    refresh(client, old, ACTIVATED)
    activation.refresh_from_db()
    page = reverse("admin:entitlements_activation_change", args=[activation.pk])

    seen = {role: _staff(role).get(page).content.decode() for role in (OPERATIONS, CUSTOMER_CARE)}

    signatures = [license_key_read(key).signature for key in (old, activation.license_key)]
    fingerprints = [license_key_read(key).fingerprint for key in (old, activation.license_key)]
    assert not any(signature in seen[OPERATIONS] for signature in signatures)
    assert all(fingerprint in seen[OPERATIONS] for fingerprint in fingerprints)
    # Customer Care, who may see activation codes, sees the keys whole.
    assert all(signature in seen[CUSTOMER_CARE] for signature in signatures)


@pytest.mark.parametrize(
    "doctor",
    [
        # A reader that takes the first "revoked" sees an empty list.
        pytest.param(
            lambda text: text.replace('{"format"', '{"revoked": [], "format"', 1), id="top"
        ),
        # Or a revoked_at of its choosing.
        pytest.param(
            lambda text: text.replace(
                '{"fingerprint"', '{"revoked_at": "2099-01-01T00:00:00Z", "fingerprint"', 1
            ),
            id="entry",
        ),
    ],
)
def test_a_revocation_list_with_a_member_written_twice_is_not_trusted(entitlement, doctor):
    gone, _live = activate(entitlement, "FTX1", "FTX2")
    with at(ACTIVATED):
        activations_revoke(activation_ids=[gone.pk], actor=UserFactory(), reason="rehost")
        genuine = json.dumps(revocation_list_build())
    doctored = doctor(genuine)
    assert doctored != genuine

    with pytest.raises(RevocationListInvalid, match="written twice"):
        revocation_list_verify(doctored)
