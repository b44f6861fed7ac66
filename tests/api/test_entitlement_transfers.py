"""POST /api/v1/entitlements/{ssrn}/transfer/ (200, the entitlement as GET shows it) and
/split/ (201, the new entitlement), scope entitlements:manage."""

import json

import pytest

from apps.api.models import Scope
from apps.core.models import AuditEvent
from apps.entitlements.models import Entitlement, EntitlementChange
from apps.outbox.models import Delivery
from tests.api.conftest import api
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db

MANAGER = [Scope.ENTITLEMENTS_MANAGE, Scope.ENTITLEMENTS_READ]


@pytest.fixture
def entitlement():
    account = new_account(account_id="0100012345")
    new_account(account_id="0300077777")
    portal_contact(account, email="anna@northwind.example")
    return entitlement_of(account, quantity=3)


def post(client, ssrn, action, body):
    return client.post(
        f"/api/v1/entitlements/{ssrn}/{action}/",
        data=json.dumps(body),
        content_type="application/json",
    )


def nothing_written(entitlement):
    code = entitlement.activation_code
    entitlement.refresh_from_db()
    return (
        entitlement.activation_code == code
        and entitlement.quantity == 3
        and Entitlement.objects.count() == 1
        and not EntitlementChange.objects.exists()
        and not Delivery.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="entitlement.").exists()
    )


def test_transfer_answers_the_entitlement_as_get_shows_it(entitlement):
    manager = api(scopes=MANAGER)

    moved = post(
        manager, entitlement.ssrn, "transfer", {"account_ids": ["0300077777"], "reason": "Sold"}
    )
    shown = manager.get(f"/api/v1/entitlements/{entitlement.ssrn}/")

    assert moved.status_code == 200
    assert moved.json() == shown.json()
    assert moved.json()["accounts"] == [{"account_id": "0300077777", "role": "end_customer"}]
    assert "activation_code" not in moved.json()
    audit = AuditEvent.objects.get(action="entitlement.transferred")
    assert audit.actor_client_id == manager.api_client.pk
    assert EntitlementChange.objects.filter(kind="transferred").exists()


def test_split_answers_201_with_the_new_entitlement(entitlement):
    manager = api(scopes=[*MANAGER, Scope.ACTIVATION_CODES])

    made = post(
        manager,
        entitlement.ssrn,
        "split",
        {"quantity": 2, "account_ids": ["0300077777"], "reason": "Subsidiary"},
    )

    assert made.status_code == 201
    body = made.json()
    assert body["ssrn"] != entitlement.ssrn and body["quantity"] == 2
    assert body == manager.get(f"/api/v1/entitlements/{body['ssrn']}/").json()
    assert body["activation_code"] == Entitlement.objects.get(ssrn=body["ssrn"]).activation_code
    assert body["activation_code"] != entitlement.activation_code
    assert (body["order_number"], body["line_number"]) == (
        entitlement.order_line.order.order_number,
        entitlement.order_line.line_number,
    )
    source = manager.get(f"/api/v1/entitlements/{entitlement.ssrn}/").json()
    assert source["quantity"] == 1


@pytest.mark.parametrize("action", ["transfer", "split"])
@pytest.mark.parametrize("scopes", [[Scope.ENTITLEMENTS_READ], [Scope.ACTIVATION_CODES]])
def test_the_manage_scope_is_required(entitlement, action, scopes):
    reader = api(scopes=scopes)

    refused = post(
        reader,
        entitlement.ssrn,
        action,
        {"quantity": 1, "account_ids": ["0300077777"], "reason": "no"},
    )

    assert refused.status_code == 403
    assert refused.json() == {"errors": ['This API client lacks the scope "entitlements:manage".']}
    assert nothing_written(entitlement)


@pytest.mark.parametrize("action", ["transfer", "split"])
def test_an_unknown_ssrn_is_404(db, action):
    missing = post(
        api(scopes=MANAGER),
        "SSRN-NOPE-0000",
        action,
        {"quantity": 1, "account_ids": ["0300077777"], "reason": "x"},
    )

    assert missing.status_code == 404
    assert missing.json() == {"errors": ["No entitlement has this SSRN."]}


@pytest.mark.parametrize(
    ("action", "body", "says"),
    [
        ("transfer", {"reason": "x"}, "account_ids: This field is required."),
        ("transfer", {"account_ids": [], "reason": "x"}, "account_ids: "),
        ("transfer", {"account_ids": "0300077777", "reason": "x"}, "account_ids: "),
        (
            "transfer",
            {"account_ids": ["12"], "reason": "x"},
            "account_ids[0]: An Account ID is 4 to 20 digits.",
        ),
        ("transfer", {"account_ids": ["0300077777"]}, "reason: This field is required."),
        (
            "transfer",
            {"account_ids": ["0300077777", "0399999999"], "reason": "x"},
            "account_ids: no account has the Account ID 0399999999.",
        ),
        (
            "transfer",
            {"account_ids": ["0100012345"], "reason": "x"},
            "account_ids: ",
        ),
        ("split", {"account_ids": ["0300077777"], "reason": "x"}, "quantity: This field is"),
        (
            "split",
            {"quantity": "many", "account_ids": ["0300077777"], "reason": "x"},
            "quantity: A valid integer is required.",
        ),
        ("split", {"quantity": 0, "account_ids": ["0300077777"], "reason": "x"}, "quantity: "),
        (
            "split",
            {"quantity": 3, "account_ids": ["0300077777"], "reason": "x"},
            "quantity: from 1 to 2",
        ),
        (
            "split",
            {"quantity": 10**12, "account_ids": ["0300077777"], "reason": "x"},
            "quantity: ",
        ),
        (
            "split",
            {"quantity": 1, "account_ids": ["0399999999"], "reason": "x"},
            "account_ids: no account has the Account ID 0399999999.",
        ),
        ("split", [], None),
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(entitlement, action, body, says):
    refused = post(api(scopes=MANAGER), entitlement.ssrn, action, body)

    assert refused.status_code == 400
    if says:
        assert refused.json()["errors"][0].startswith(says)
    assert nothing_written(entitlement)
