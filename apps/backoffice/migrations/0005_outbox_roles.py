from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Both roles work the outbox's queue, as they worked the email queue."""

    dependencies = [
        ("backoffice", "0004_paper_delivery_role"),
        ("notifications", "0005_deliveries_move_to_outbox"),
        ("accounts", "0007_decisions_and_notices_on_the_outbox"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
