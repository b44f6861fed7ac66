from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care and Operations register webhook endpoints."""

    dependencies = [
        ("backoffice", "0005_outbox_roles"),
        ("outbox", "0002_webhook_endpoints"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
