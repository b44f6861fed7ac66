from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care decides access requests and revokes activations; Operations reads
    access requests."""

    dependencies = [
        ("backoffice", "0002_fulfillment_roles"),
        ("accounts", "0002_access_requests"),
        ("entitlements", "0005_activation_who"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
