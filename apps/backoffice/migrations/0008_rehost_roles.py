from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care rehosts activations (RMA) and decides the portal's rehost requests."""

    dependencies = [
        ("backoffice", "0007_entitlement_lifecycle_roles"),
        ("entitlements", "0012_activation_rehost"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
