"""An address whose key (an order number, an SSRN) holds a control character names nothing:
the API, the portal and the public verification page answer 404, never a server error
(PostgreSQL refuses a NUL even in a query)."""

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from tests.api.conftest import ALL_SCOPES, api
from tests.factories.accounts import ContactFactory

pytestmark = pytest.mark.django_db

API = [
    "/api/v1/orders/SO%00X/",
    "/api/v1/orders/SO%00X/lines/1/",
    "/api/v1/orders/SO%07X/lines/1/hold/",
    "/api/v1/entitlements/AB%00CD/",
]
PORTAL = [
    "/entitlements/AB%00CD/",
    "/entitlements/AB%00CD/certificate/",
    "/entitlements/AB%00CD/keys/",
    "/verify/AB%00CD/",
    "/verify/AB%1bCD/",
]


@pytest.mark.parametrize("url", API)
def test_the_api_answers_404_in_json_for_a_key_with_a_control_character(url):
    http = api(scopes=ALL_SCOPES)
    http.raise_request_exception = False

    response = http.get(url) if not url.endswith("hold/") else http.post(url, {}, format="json")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("url", PORTAL)
def test_the_portal_answers_404_for_a_key_with_a_control_character(url):
    client = Client(raise_request_exception=False)
    client.force_login(ContactFactory().user)

    assert client.get(url).status_code == 404


def test_a_call_without_a_token_to_such_an_address_is_refused_and_audited(client):
    client.raise_request_exception = False

    response = client.get("/api/v1/entitlements/AB%00CD/")

    assert response.status_code == 401
    assert "AB\\x00CD" in AuditEvent.objects.get(action="api.call").message
