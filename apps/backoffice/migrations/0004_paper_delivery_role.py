from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Operations records paper certificate and tracking numbers."""

    dependencies = [
        ("backoffice", "0003_portal_roles"),
        ("entitlements", "0006_paper_delivery"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
