"""GET /api/v1/entitlements/, the catalog and accounts upserts, and the clients' tokens."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apps.api.models import ApiClient, Scope
from apps.catalog.models import Product
from tests.api.conftest import api
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account, subscription_of

pytestmark = pytest.mark.django_db
LIST = reverse("api:entitlements")


def test_entitlements_filter_by_account_status_and_change_and_page_by_cursor(erp):
    northwind, other = new_account(account_id="0100012345"), new_account()
    mine = [entitlement_of(northwind) for _ in range(5)]
    expired = subscription_of(northwind, ends_in_days=-90)
    entitlement_of(other)
    ActivationFactory(entitlement=mine[0])

    seen, url = [], f"{LIST}?account_id=0100012345&status=active&page_size=2"
    while url:
        page = erp.get(url).json()
        seen += page["results"]
        url = page["next"]

    assert [row["ssrn"] for row in seen] == [e.ssrn for e in mine]  # oldest change first
    assert seen[0]["seats_used"] == 1 and seen[0]["accounts"] == [
        {"account_id": "0100012345", "role": "end_customer"}
    ]
    assert "activation_code" not in seen[0]
    expired_only = erp.get(LIST, {"status": "expired"}).json()["results"]
    assert [row["ssrn"] for row in expired_only] == [expired.ssrn]
    later = timezone.now() + datetime.timedelta(seconds=1)
    assert erp.get(LIST, {"updated_since": later.isoformat()}).json()["results"] == []
    bad = erp.get(LIST, {"updated_since": "yesterday", "status": "gone"})
    assert bad.status_code == 400 and len(bad.json()["errors"]) == 2


def test_activation_codes_only_for_clients_allowed_to_see_them(erp):
    entitlement = entitlement_of(new_account())
    trusted = api(scopes=[Scope.ENTITLEMENTS_READ, Scope.ACTIVATION_CODES], name="trusted")
    url = reverse("api:entitlement", args=[entitlement.ssrn])

    assert "activation_code" not in erp.get(url).json()
    assert trusted.get(url).json()["activation_code"] == entitlement.activation_code
    assert erp.get(reverse("api:entitlement", args=["0000-0000-0000"])).status_code == 404


def test_products_and_accounts_upsert_with_the_files_shapes(erp):
    products = {
        "products": [
            {
                "sku": "KS-NEW-1",
                "name": "New Thing",
                "delivery_method": "jal",
                "license_type": "perpetual",
            }
        ]
    }
    first = erp.post(reverse("api:products"), products, format="json")
    again = erp.post(reverse("api:products"), products, format="json")
    assert first.json() == {"rows": [{"row": "product KS-NEW-1", "outcome": "created"}]}
    assert again.json()["rows"][0]["outcome"] == "unchanged"
    assert Product.objects.filter(sku="KS-NEW-1").exists()

    accounts = {"accounts": [{"account_id": "12", "name": "Too Short"}]}
    refused = erp.post(reverse("api:accounts"), accounts, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == ["accounts[0].account_id: An Account ID is 4 to 20 digits."]


def test_create_api_client_prints_the_token_once_and_keeps_only_its_hash(db):
    out = io.StringIO()
    call_command("create_api_client", "ERP production", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()

    client = ApiClient.objects.get(name="ERP production")
    assert token.startswith("ks_") and len(token) > 40
    assert token not in str(ApiClient.objects.values().get())
    assert client.scopes == ["entitlements:read", "orders:read", "orders:write"]
    http = api(scopes=[], name="unused")
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert http.get(LIST).status_code == 200


def test_a_client_revoked_in_the_admin_is_refused_at_once(erp, admin_client):
    assert erp.get(LIST).status_code == 200
    admin_client.post(
        reverse("admin:api_apiclient_changelist"),
        {"action": "revoke", "_selected_action": [erp.api_client.pk]},
    )
    assert erp.get(LIST).status_code == 401


def test_the_schema_and_its_docs_are_served_without_fetching_from_other_sites(client):
    schema = client.get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert "/api/v1/orders/" in schema.json()["paths"]
    docs = client.get(reverse("api:docs")).content.decode()
    assert "cdn." not in docs and "/static/drf_spectacular_sidecar/" in docs
