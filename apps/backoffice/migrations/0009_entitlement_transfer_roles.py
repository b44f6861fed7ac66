from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care transfers and splits entitlements and reads their previous accounts."""

    dependencies = [
        ("backoffice", "0008_rehost_roles"),
        ("entitlements", "0015_entitlement_transfer_split"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
