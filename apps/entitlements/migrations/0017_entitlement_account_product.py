import django.db.models.deletion
from django.db import migrations, models

# Each row takes its entitlement's product (portable SQL: SQLite too). One UPDATE: 1.3
# million rows at a million entitlements take a minute or two, while fulfilment waits.
BACKFILL = """
UPDATE entitlements_entitlementaccount SET product_id = (
    SELECT e.product_id FROM entitlements_entitlement e
    WHERE e.id = entitlements_entitlementaccount.entitlement_id
)
"""

# Django has no composite foreign key: the copy of the product must be the entitlement's,
# and follows it if it ever changes.
SAME_PRODUCT = """
ALTER TABLE entitlements_entitlementaccount ADD CONSTRAINT entitlement_account_same_product
FOREIGN KEY (entitlement_id, product_id)
REFERENCES entitlements_entitlement (id, product_id) ON UPDATE CASCADE
"""


def same_product_add(apps, schema_editor):
    # PostgreSQL only: SQLite (development) cannot add a constraint to a table.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SAME_PRODUCT)


def same_product_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE entitlements_entitlementaccount "
            "DROP CONSTRAINT entitlement_account_same_product"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("entitlements", "0016_change_kinds_rehosted_transferred_split"),
    ]

    operations = [
        migrations.AddField(
            model_name="entitlementaccount",
            name="product",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="catalog.product",
                verbose_name="product",
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="entitlementaccount",
            name="product",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="catalog.product",
                verbose_name="product",
            ),
        ),
        migrations.AddConstraint(
            model_name="entitlement",
            constraint=models.UniqueConstraint(
                fields=("id", "product"), name="entitlement_id_product"
            ),
        ),
        migrations.RunPython(same_product_add, same_product_drop),
        migrations.AddIndex(
            model_name="entitlementaccount",
            index=models.Index(
                fields=["account", "product", "entitlement"],
                name="entitlement_account_held_idx",
            ),
        ),
    ]
