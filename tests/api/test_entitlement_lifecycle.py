"""POST /api/v1/entitlements/{ssrn}/suspend/, /reinstate/ and /revoke/ (scope
entitlements:manage): the answer is the entitlement as GET shows it."""

import io
import json

import pytest
from django.core.management import call_command

from apps.api.models import ApiClient, Scope
from apps.core.models import AuditEvent
from apps.entitlements.models import EntitlementChange
from apps.outbox.models import Delivery, DeliveryKind
from tests.api.conftest import api
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db

MANAGER = [Scope.ENTITLEMENTS_MANAGE]


@pytest.fixture
def entitlement():
    account = new_account()
    portal_contact(account, email="anna@northwind.example")
    return entitlement_of(account)


def post(client, ssrn, action, body):
    return client.post(
        f"/api/v1/entitlements/{ssrn}/{action}/",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_suspend_reinstate_revoke_answer_the_entitlement_as_get_shows_it(entitlement):
    manager = api(scopes=[*MANAGER, Scope.ENTITLEMENTS_READ])

    suspended = post(manager, entitlement.ssrn, "suspend", {"reason": "Unpaid invoice"})
    shown = manager.get(f"/api/v1/entitlements/{entitlement.ssrn}/")

    assert suspended.status_code == 200
    assert suspended.json() == shown.json()
    assert suspended.json()["status"] == "suspended" and suspended.json()["suspended_at"]
    assert "activation_code" not in suspended.json()
    (notice,) = Delivery.objects.filter(kind=DeliveryKind.LIFECYCLE_NOTICE)
    assert notice.recipient == "anna@northwind.example"
    audit = AuditEvent.objects.get(action="entitlement.suspended")
    assert audit.actor_client_id == manager.api_client.pk

    reinstated = post(manager, entitlement.ssrn, "reinstate", {"reason": "Paid"})
    assert reinstated.status_code == 200
    assert reinstated.json()["status"] == "active" and reinstated.json()["suspended_at"] is None

    revoked = post(manager, entitlement.ssrn, "revoke", {"reason": "Cancelled"})
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"]
    assert [c.kind for c in EntitlementChange.objects.order_by("pk")] == [
        "suspended",
        "reinstated",
        "revoked",
    ]


def test_the_code_is_in_the_answer_only_with_the_codes_scope(entitlement):
    manager = api(scopes=[*MANAGER, Scope.ACTIVATION_CODES])

    answer = post(manager, entitlement.ssrn, "suspend", {"reason": "check"})

    assert answer.json()["activation_code"] == entitlement.activation_code


@pytest.mark.parametrize("scopes", [[Scope.ENTITLEMENTS_READ], [Scope.ACTIVATION_CODES]])
def test_the_scope_is_required(entitlement, scopes):
    reader = api(scopes=scopes)

    refused = post(reader, entitlement.ssrn, "revoke", {"reason": "no"})

    assert refused.status_code == 403
    assert refused.json() == {"errors": ['This API client lacks the scope "entitlements:manage".']}
    entitlement.refresh_from_db()
    assert entitlement.revoked_at is None


def test_an_unknown_ssrn_is_404(db):
    manager = api(scopes=MANAGER)

    missing = post(manager, "SSRN-NOPE-0000", "suspend", {"reason": "x"})

    assert missing.status_code == 404
    assert missing.json() == {"errors": ["No entitlement has this SSRN."]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "reason: This field is required."),
        ({"reason": ""}, "reason: This field may not be blank."),
        ({"reason": "   "}, "reason: This field may not be blank."),
        ({"reason": "x" * 201}, "reason: Ensure this field has no more than 200 characters."),
        ([], None),
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(entitlement, body, says):
    manager = api(scopes=MANAGER)

    refused = post(manager, entitlement.ssrn, "suspend", body)

    assert refused.status_code == 400
    if says:
        assert refused.json() == {"errors": [says]}
    entitlement.refresh_from_db()
    assert entitlement.suspended_at is None
    assert not EntitlementChange.objects.exists()


def test_a_refused_action_is_400_saying_why_and_writes_nothing(entitlement):
    manager = api(scopes=MANAGER)

    refused = post(manager, entitlement.ssrn, "reinstate", {"reason": "paid"})

    assert refused.status_code == 400
    assert refused.json() == {
        "errors": [
            f"The entitlement {entitlement.ssrn} is active: only a suspended one is reinstated."
        ]
    }
    assert not EntitlementChange.objects.exists()
    assert not Delivery.objects.exists()


def test_create_api_client_grants_the_manage_scope(db):
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "create_api_client", "erp-care", "--scope", "entitlements:manage", stdout=out, stderr=err
    )

    assert ApiClient.objects.get(name="erp-care").scopes == ["entitlements:manage"]
    assert "entitlements:manage" in err.getvalue()
