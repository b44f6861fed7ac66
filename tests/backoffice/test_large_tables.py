import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core import admin as core_admin
from tests.factories.entitlements import EntitlementFactory


def _full_counts(queries, table):
    return [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper()
        and f'FROM "{table}"' in q["sql"]
        and "WHERE" not in q["sql"].upper()
    ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_unfiltered_changelist_of_a_big_table_reads_the_estimate_not_count(
    admin_client, monkeypatch
):
    EntitlementFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE entitlements_entitlement")
    monkeypatch.setattr(core_admin, "EXACT_COUNT_LIMIT", 1)  # three rows stand in for a million

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:entitlements_entitlement_changelist"))

    assert response.status_code == 200
    assert _full_counts(queries.captured_queries, "entitlements_entitlement") == []
    assert any("reltuples" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_a_small_table_is_counted_exactly(admin_client):
    EntitlementFactory.create_batch(3)

    response = admin_client.get(reverse("admin:entitlements_entitlement_changelist"))

    assert "3 entitlements" in response.content.decode()
