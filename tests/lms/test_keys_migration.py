"""The migration that seals the legacy keys a database holds in clear, and its way back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core import sealing

BEFORE = [("lms", "0002_legacy_key_serial")]
AFTER = [("lms", "0004_legacy_key_clear_removed")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_keys_stored_in_clear_are_sealed_by_the_migration_and_come_back_in_clear_on_undo():
    old = migrate(BEFORE)
    product = old.get_model("catalog", "Product").objects.create(
        sku="OLD-FW", name="Classic Firewall", delivery_method="heritage_key"
    )
    old.get_model("lms", "LegacyKey").objects.create(product_id=product.pk, license_key="K-CLEAR-1")
    try:
        new = migrate(AFTER)
        key = new.get_model("lms", "LegacyKey").objects.get()
        assert key.license_key_digest == sealing.legacy_key_digest("K-CLEAR-1")
        assert sealing.unseal(key.license_key_sealed) == "K-CLEAR-1"
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM lms_legacykey")
            assert "K-CLEAR-1" not in " ".join(str(v) for v in cursor.fetchone())

        back = migrate(BEFORE)
        assert back.get_model("lms", "LegacyKey").objects.get().license_key == "K-CLEAR-1"
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
