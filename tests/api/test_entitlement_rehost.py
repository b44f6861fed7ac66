"""POST /api/v1/entitlements/{ssrn}/rehost/: the ERP moves a device's activation to its
replacement (an RMA), scope entitlements:manage; answers the entitlement as GET shows it."""

import json

import pytest

from apps.api.models import Scope
from apps.core.models import AuditEvent
from apps.entitlements.activations import activations_create
from apps.entitlements.key_checks import KeyVerdict, license_key_check
from apps.entitlements.models import Activation, EntitlementChange
from apps.entitlements.revocations import revocation_list_build, revocation_list_verify
from apps.outbox.models import Delivery
from tests.api.conftest import api
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db

MANAGER = [Scope.ENTITLEMENTS_MANAGE, Scope.ENTITLEMENTS_READ]


@pytest.fixture
def entitlement():
    account = new_account()
    contact = portal_contact(account, email="anna@northwind.example")
    entitlement = entitlement_of(account, quantity=2)
    activations_create(
        entitlement_id=entitlement.pk, serial_numbers=["FTX-OLD-1"], actor=contact.user
    )
    return entitlement


def rehost(client, ssrn, body):
    return client.post(
        f"/api/v1/entitlements/{ssrn}/rehost/",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_a_rehost_moves_the_device_and_answers_the_entitlement(entitlement):
    manager = api(scopes=MANAGER)
    old = Activation.objects.get(entitlement=entitlement)

    moved = rehost(
        manager,
        entitlement.ssrn,
        {"serial_number": "ftx-old-1 ", "new_serial_number": "FTX-NEW-2", "reason": "RMA 881"},
    )

    assert moved.status_code == 200, moved.json()
    assert moved.json() == manager.get(f"/api/v1/entitlements/{entitlement.ssrn}/").json()
    assert moved.json()["seats_used"] == 1
    new = Activation.objects.get(entitlement=entitlement, revoked_at__isnull=True)
    assert (new.serial_number, new.rehosted_from_id) == ("FTX-NEW-2", old.pk)
    old.refresh_from_db()
    assert old.revoked_at is not None
    # The failed device's key is named in the revocation list and refused with it.
    revocations = revocation_list_verify(json.dumps(revocation_list_build()))
    check = license_key_check(
        text=old.license_key, today=old.created_at.date(), revocations=revocations
    )
    assert check.verdict == KeyVerdict.REVOKED
    assert EntitlementChange.objects.filter(kind="rehosted").count() == 1
    audit = AuditEvent.objects.get(action="activation.rehosted")
    assert audit.actor_client_id == manager.api_client.pk
    assert old.license_key not in json.dumps(audit.data)
    assert Delivery.objects.filter(
        kind="rehost_notice", recipient="anna@northwind.example"
    ).exists()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {"serial_number": "FTX-NOPE", "new_serial_number": "FTX-NEW-2", "reason": "RMA"},
            "serial_number: FTX-NOPE has no live activation on",
        ),
        (
            {"serial_number": "FTX-OLD-1", "new_serial_number": "FTX-OLD-1", "reason": "RMA"},
            "FTX-OLD-1",
        ),
        ({"serial_number": "FTX-OLD-1", "new_serial_number": "FTX-NEW-2"}, "reason"),
        ({"serial_number": "FTX-OLD-1", "reason": "RMA"}, "new_serial_number"),
        (
            {"serial_number": "FTX-OLD-1", "new_serial_number": "<b>x</b>", "reason": "RMA"},
            "is not a serial number",
        ),
    ],
)
def test_a_refused_rehost_says_why_and_writes_nothing(entitlement, body, says):
    refused = rehost(api(scopes=MANAGER), entitlement.ssrn, body)

    assert refused.status_code == 400
    assert says in json.dumps(refused.json())
    assert Activation.objects.filter(entitlement=entitlement).count() == 1
    assert not EntitlementChange.objects.filter(kind="rehosted").exists()
    assert not AuditEvent.objects.filter(action="activation.rehosted").exists()


def test_it_needs_the_manage_scope_and_a_known_ssrn(entitlement):
    body = {"serial_number": "FTX-OLD-1", "new_serial_number": "FTX-NEW-2", "reason": "RMA"}

    reader = rehost(api(scopes=[Scope.ENTITLEMENTS_READ]), entitlement.ssrn, body)
    unknown = rehost(api(scopes=MANAGER), "AAAA-BBBB-CCCC", body)

    assert reader.status_code == 403
    assert unknown.status_code == 404
    assert Activation.objects.filter(entitlement=entitlement).count() == 1
