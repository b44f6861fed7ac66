from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care and Operations see shipments, certificates and emails; both may
    resend emails and reissue certificates; Operations retries the queues."""

    dependencies = [
        ("backoffice", "0001_staff_roles"),
        ("entitlements", "0003_reissue_permission"),
        ("notifications", "0001_initial"),
        ("orders", "0002_shipment"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
