"""The API's webhook endpoints, as DESIGN.md fixes them: POST answers 201 with the secret,
shown once; scope webhooks:manage; every problem a 400 naming its field."""

import pytest

from apps.api.models import Scope
from apps.core.models import AuditEvent
from apps.outbox.models import WebhookEndpoint
from tests.api.conftest import api
from tests.factories.accounts import AccountFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints/"
PUBLIC = "https://93.184.215.14/keyship"


# The ERP's client reads orders and entitlements, so it may have their events sent to it.
READS = [Scope.ORDERS_READ, Scope.ENTITLEMENTS_READ]


@pytest.fixture
def manager():
    return api(scopes=[Scope.WEBHOOKS_MANAGE, *READS], name="erp-hooks")


def test_registering_answers_201_with_the_secret_shown_once(manager):
    response = manager.post(
        URL, {"url": PUBLIC, "events": ["entitlement.created", "order.received"]}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["url"] == PUBLIC
    assert body["events"] == ["order.received", "entitlement.created"]
    assert body["account_ids"] == [] and body["active"] is True
    assert body["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.secret == body["secret"] and endpoint.api_client_id == manager.api_client.pk
    read = manager.get(f"{URL}{body['id']}/").json()
    listed = manager.get(URL).json()
    assert "secret" not in read and read["url"] == PUBLIC
    assert [row["id"] for row in listed] == [body["id"]] and "secret" not in listed[0]
    assert body["secret"] not in str(list(AuditEvent.objects.values_list("data", "message")))


def test_the_scope_is_needed():
    other = api(scopes=[s for s in Scope.values if s != Scope.WEBHOOKS_MANAGE], name="no-hooks")

    response = other.post(URL, {"url": PUBLIC, "events": ["order.received"]}, format="json")

    assert response.status_code == 403
    assert response.json() == {"errors": ['This API client lacks the scope "webhooks:manage".']}
    assert other.get(URL).status_code == 403
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"events": ["order.received"]}, "url: "),
        ({"url": PUBLIC}, "events: "),
        ({"url": PUBLIC, "events": []}, "events: "),
        ({"url": PUBLIC, "events": ["order.shipped"]}, "events[0]: "),
        ({"url": "https://127.0.0.1/hook", "events": ["order.received"]}, "url: 127.0.0.1 is a"),
        ({"url": "https://localhost/hook", "events": ["order.received"]}, "url: localhost"),
        ({"url": "http://93.184.215.14/", "events": ["order.received"]}, "url: the URL must"),
        ({"url": "https://[::1/", "events": ["order.received"]}, "url: not a URL"),
        ({"url": "https://h:99999/", "events": ["order.received"]}, "url: not a URL"),
        ({"url": "https://93.184.215.14:0/", "events": ["order.received"]}, "url: not a URL"),
        (
            {"url": PUBLIC, "events": ["order.received"], "account_ids": ["12x"]},
            "account_ids[0]: ",
        ),
        (
            {"url": PUBLIC, "events": ["order.received"], "account_ids": ["0999999999"]},
            "account_ids: no account has the Account ID 0999999999",
        ),
        ({"url": PUBLIC, "events": ["order.received"], "owner_email": "nope"}, "owner_email: "),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(manager, body, field):
    response = manager.post(URL, body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(error.startswith(field) for error in errors), errors
    assert not WebhookEndpoint.objects.exists()


def test_a_customer_endpoint_names_its_accounts(manager):
    account = AccountFactory()

    response = manager.post(
        URL,
        {"url": PUBLIC, "events": ["entitlement.created"], "account_ids": [account.account_id]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["account_ids"] == [account.account_id]


def test_changing_disabling_enabling_and_deleting_are_audited(manager):
    created = manager.post(URL, {"url": PUBLIC, "events": ["order.received"]}, format="json")
    detail = f"{URL}{created.json()['id']}/"

    changed = manager.patch(
        detail, {"events": ["line.shipped"], "active": False}, format="json"
    ).json()
    assert changed["events"] == ["line.shipped"] and changed["active"] is False
    assert changed["disabled_at"] is not None
    enabled = manager.patch(detail, {"active": True}, format="json").json()
    assert enabled["active"] is True and enabled["disabled_at"] is None
    refused = manager.patch(detail, {"url": "https://10.0.0.1/"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0].startswith("url: 10.0.0.1 is a private address")
    assert manager.delete(detail).status_code == 204
    assert manager.get(detail).status_code == 404

    events = list(AuditEvent.objects.filter(action__startswith="webhook_endpoint.").order_by("pk"))
    assert [e.action for e in events] == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    ]
    assert events[1].data["active"] == {"old": True, "new": False}
    assert events[2].data["active"] == {"old": False, "new": True}
    assert all(e.actor_name == "erp-hooks" for e in events)


def test_a_client_sees_and_changes_only_its_own_endpoints(manager):
    created = manager.post(URL, {"url": PUBLIC, "events": ["order.received"]}, format="json")
    detail = f"{URL}{created.json()['id']}/"
    other = api(scopes=[Scope.WEBHOOKS_MANAGE, *READS], name="other-system")

    assert other.get(URL).json() == []
    assert other.get(detail).status_code == 404
    assert other.patch(detail, {"active": False}, format="json").status_code == 404
    assert other.delete(detail).status_code == 404
    assert WebhookEndpoint.objects.get().active


def test_the_schema_describes_the_webhook_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert {"post", "get"} <= set(schema["paths"]["/api/v1/webhook-endpoints/"])
    assert {"get", "patch", "delete"} <= set(
        schema["paths"]["/api/v1/webhook-endpoints/{endpoint_id}/"]
    )
    created = schema["components"]["schemas"]["WebhookEndpointCreatedOut"]
    assert "secret" in created["properties"]


def test_a_client_is_sent_only_the_events_its_scopes_read():
    # webhooks:manage alone reads nothing: an endpoint is no way around the read scopes.
    hooks_only = api(scopes=[Scope.WEBHOOKS_MANAGE], name="hooks-only")
    orders_reader = api(scopes=[Scope.WEBHOOKS_MANAGE, Scope.ORDERS_READ], name="orders")

    refused = hooks_only.post(URL, {"url": PUBLIC, "events": ["line.shipped"]}, format="json")
    mixed = orders_reader.post(
        URL, {"url": PUBLIC, "events": ["line.shipped", "entitlement.created"]}, format="json"
    )
    allowed = orders_reader.post(URL, {"url": PUBLIC, "events": ["line.shipped"]}, format="json")

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        "events: line.shipped needs the scope orders:read, which this client does not have"
    ]
    assert mixed.status_code == 400 and "entitlement.created" in mixed.json()["errors"][0]
    assert allowed.status_code == 201
    widened = orders_reader.patch(
        f"{URL}{allowed.json()['id']}/", {"events": ["activation.created"]}, format="json"
    )
    assert widened.status_code == 400
    assert list(WebhookEndpoint.objects.values_list("events", flat=True)) == [["line.shipped"]]


def test_an_endpoint_stops_when_its_client_may_no_longer_read_its_events(manager, admin_user):
    from apps.api.services import api_client_scopes_set, api_clients_revoke

    created = manager.post(URL, {"url": PUBLIC, "events": ["line.shipped"]}, format="json")
    other = manager.post(URL, {"url": PUBLIC, "events": ["entitlement.created"]}, format="json")
    client = manager.api_client

    api_client_scopes_set(
        client_id=client.pk,
        scopes=[Scope.WEBHOOKS_MANAGE, Scope.ENTITLEMENTS_READ],
        actor=admin_user,
    )

    endpoints = WebhookEndpoint.objects.in_bulk([created.json()["id"], other.json()["id"]])
    assert endpoints[created.json()["id"]].active is False
    assert "may no longer read" in endpoints[created.json()["id"]].disabled_reason
    assert endpoints[other.json()["id"]].active is True
    again = manager.patch(f"{URL}{created.json()['id']}/", {"active": True}, format="json")
    assert again.status_code == 400
    assert AuditEvent.objects.filter(action="webhook_endpoint.disabled", actor=admin_user).exists()

    api_clients_revoke(client_ids=[client.pk], actor=admin_user)

    assert not WebhookEndpoint.objects.filter(active=True).exists()


def test_an_endpoint_subscribes_to_reinstated_entitlements(manager):
    response = manager.post(
        URL,
        {"url": PUBLIC, "events": ["entitlement.REINSTATED", "entitlement.reinstated"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        'events[0]: "entitlement.REINSTATED" is not a valid choice.'
    ]

    response = manager.post(
        URL, {"url": PUBLIC, "events": ["entitlement.reinstated"]}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["events"] == ["entitlement.reinstated"]
