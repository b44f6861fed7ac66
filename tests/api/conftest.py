import pytest
from rest_framework.test import APIClient

from apps.api.models import Scope
from apps.api.services import api_client_create
from apps.core.actors import Job

ALL_SCOPES = list(Scope.values)


@pytest.fixture
def erp(db):
    """The ERP's client, with every scope but the activation codes."""
    return api(scopes=[s for s in ALL_SCOPES if s != Scope.ACTIVATION_CODES])


def api(*, scopes, name=None):
    client, token = api_client_create(
        name=name or f"client-{len(scopes)}-{id(scopes)}",
        scopes=scopes,
        actor=Job("create_api_client"),
    )
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    http.api_client, http.token = client, token
    return http


def order_body(number="SO-4711", **changes):
    body = {
        "order_number": number,
        "language": "en",
        "accounts": [
            {"account_id": "0100012345", "name": "Northwind Networks", "role": "end_customer"},
            {"account_id": "0200054321", "name": "Blue Harbor", "role": "partner"},
        ],
        "emails": ["buyer@northwind.example"],
        "lines": [
            {
                "line_number": 1,
                "sku": "KS-FW-ADV",
                "quantity": 2,
                "requested_ship_date": "2026-12-01",
            },
            {
                "line_number": 2,
                "sku": "KS-TD-1Y",
                "quantity": 1,
                "requested_ship_date": "2027-01-15",
            },
        ],
    }
    body.update(changes)
    return body
