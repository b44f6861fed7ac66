from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care suspends, reinstates and revokes entitlements."""

    dependencies = [
        ("backoffice", "0006_webhook_endpoint_roles"),
        ("entitlements", "0011_entitlement_suspend_revoke"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
